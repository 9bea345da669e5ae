"""The dashboard: server-rendered pages (Jinja2 + htmx + Chart.js, all vendored) in the app.

Same users, roles and authorization table as the API; the session is the API's JWT carried in an
HttpOnly, SameSite=Strict cookie, and every form that changes something carries a CSRF token.
"""
