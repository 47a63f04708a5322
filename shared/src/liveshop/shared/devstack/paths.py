"""The project's paths, for the callers that import them from the dev stack: :mod:`liveshop.shared.paths`."""

from __future__ import annotations

from liveshop.shared.paths import cache_dir as cache_dir
from liveshop.shared.paths import project_root as project_root
from liveshop.shared.paths import state_dir as state_dir
from liveshop.shared.paths import write_private as write_private
