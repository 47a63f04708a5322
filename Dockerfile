# One image for every liveshop service; pick the service with SERVICE_NAME at run time.
FROM python:3.11-slim
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
WORKDIR /app
COPY . .
RUN uv sync --locked --no-dev
ENV PATH="/app/.venv/bin:$PATH" HTTP_HOST=0.0.0.0 HTTP_PORT=8000
EXPOSE 8000
CMD ["sh", "-c", "exec python -m liveshop.${SERVICE_NAME}"]
