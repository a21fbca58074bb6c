"""`localcall serve --ray`: the same app as `localcall serve` (`server.app.create_app`), served as
the replicas of a Ray Serve deployment behind Serve's HTTP proxy, on a local Ray instance or a
running cluster.

- `cluster.py`: the Ray instance: a local one it starts, or a cluster it joins; stop() undoes
  only what was started.
- `replica.py`: the deployment. Each replica builds what `localcall serve` builds
  (`server.serve.build`: models, tools, audit log, keys) once, at start, and serves it through
  Serve's FastAPI ingress; every response names the replica in `x-localcall-replica`.
- `deploy.py`: `run`, what the command does: options, start, wait for SIGINT/SIGTERM, stop.

Ray is imported only below `run`, after the environment of a local instance is set.
"""

from .deploy import DeploymentFailed, RayOptions, run

__all__ = ["DeploymentFailed", "RayOptions", "run"]
