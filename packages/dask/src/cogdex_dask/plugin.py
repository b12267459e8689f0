"""Dask: a `distributed.Client`, "active" (the current one) or a scheduler address such as
"tcp://host:8786" as the `client=` of builds and sample_points.

`distributed` costs about a second to import: it is imported when a call has a `client=`,
never when the plugin is loaded (every cogdex process loads it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogdex.sdk import hookimpl

if TYPE_CHECKING:
    from cogdex.sdk import BuildExecutor, PointExecutor


@hookimpl
def cogdex_build_executor(client: object) -> BuildExecutor | None:
    from cogdex_dask.build import executor_for

    return executor_for(client)


@hookimpl
def cogdex_point_executor(client: object) -> PointExecutor | None:
    from cogdex_dask.points import executor_for

    return executor_for(client)
