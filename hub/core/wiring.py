"""How a route reaches the hub's collaborators: the one Services object the app holds, as a typed dependency.

The object is built above every domain (hub.services, from settings); a router below it names its type for the
type checker only, so importing this module pulls no domain in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from hub.services import Services
else:
    Services = Any


def services(connection: HTTPConnection) -> Services:
    """The app's Services object (create_app puts it on app.state, its only attribute)."""
    return connection.app.state.services


ServicesDep = Annotated[Services, Depends(services)]
