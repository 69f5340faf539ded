// A test-only forwarding proxy that adds `Authorization: Bearer <key>` to every request.
//
// The conformance suite's server mode connects with a plain MCP client and has no option for
// request headers, while our endpoint (rightly) refuses every request without an API key. This
// proxy plays the part `mcp-remote --header "Authorization: Bearer ..."` plays for a real
// client: requests, bodies and responses (streams included) pass through unchanged, Host and
// Origin included, so the server's own checks (auth, Host, Origin, guards) all run for real.
//
// usage: node auth-proxy.mjs LISTEN_PORT UPSTREAM_PORT   (key in MCP_CONFORMANCE_API_KEY)
import http from "node:http";

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
const key = process.env.MCP_CONFORMANCE_API_KEY;
if (!listenPort || !upstreamPort || !key) {
  console.error("usage: MCP_CONFORMANCE_API_KEY=... node auth-proxy.mjs LISTEN UPSTREAM");
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true });

const server = http.createServer((request, response) => {
  const headers = { ...request.headers };
  if (!headers.authorization) headers.authorization = `Bearer ${key}`;
  const upstream = http.request(
    {
      host: "127.0.0.1",
      port: upstreamPort,
      method: request.method,
      path: request.url,
      headers,
      agent,
    },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
      answer.pipe(response);
    },
  );
  upstream.on("error", (error) => {
    if (!response.headersSent) response.writeHead(502, { "content-type": "text/plain" });
    response.end(`proxy: ${error.message}`);
  });
  request.pipe(upstream);
  response.on("close", () => {
    if (!response.writableFinished) upstream.destroy();
  });
});

server.listen(listenPort, "127.0.0.1", () => {
  console.error(`auth proxy 127.0.0.1:${listenPort} -> 127.0.0.1:${upstreamPort}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));
