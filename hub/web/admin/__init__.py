"""The web admin at ``/admin/``: server-rendered pages (Jinja2, htmx) for every staff role.

``auth`` (sessions, CSRF, ``current_staff``, ``require_role``), ``shell`` (the layout, nav,
flash, ``render``), ``routes`` (``mount``: the page modules' routers, error pages, static
assets) and one module per page: ``account`` (sign-in, sign-out, password), ``audit`` (the
audit log page). Nothing here is imported at start-up unless HTTP is served.
"""
