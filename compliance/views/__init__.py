"""Dashboard views: thin, each parses its query string, calls selectors with the signed-in user
and renders. One module per page group; access rules in :mod:`compliance.views.access`."""
