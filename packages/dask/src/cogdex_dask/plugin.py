"""Index builds on a Dask cluster: the `client=` of a build (a `distributed.Client`, a
scheduler address such as "tcp://host:8786", or "active").

`distributed` costs about a second to import: it is imported when a build has a `client=`,
never when the plugin is loaded (every cogdex process loads it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogdex.sdk import hookimpl

if TYPE_CHECKING:
    from cogdex.sdk import BuildExecutor


@hookimpl
def cogdex_build_executor(client: object) -> BuildExecutor | None:
    from cogdex_dask.build import executor_for

    return executor_for(client)
