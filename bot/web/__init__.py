"""The HTTP surface: the FastAPI app with the web channel's routes, public look-ups,
tracking pages and health."""
