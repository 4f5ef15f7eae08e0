"""The HTTP edge: authentication, authorisation, routing to services, ops dashboard."""
