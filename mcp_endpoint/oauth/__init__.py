"""OAuth 2.1 for the MCP endpoint: ``/mcp`` as a resource server of this site's own
authorization server (django-allauth's OpenID Connect provider, ``allauth.idp.oidc``).

- :mod:`.signing_key`: the provider's RSA signing key, read and checked at start-up;
- :mod:`.adapter`: the provider's adapter (issuer, the ``read`` and ``scan`` scopes, what a
  self-registered client may ask for);
- :mod:`.metadata`: the resource's URLs and its RFC 9728 metadata document;
- :mod:`.access_tokens`: checking an access token presented to ``/mcp``;
- :mod:`.views`: the well-known documents, and the provider's URLs, answering 404 while no
  signing key is configured.
"""
