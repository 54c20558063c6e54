"""The web layer: the Starlette app, hot ASGI routes, headers, pages, and running under uvicorn."""
