// Package rpc serves the Transmission RPC protocol (rpc-version 16, the one
// Transmission 3.00 speaks, also under the snake_case names of 4.0; it
// claims no more than it implements: rpc-version 17 adds fields such as
// availability and bandwidth groups that it does not have) over a
// client.Controller, so that transmission-remote, Sonarr, Radarr and other
// Transmission front ends can drive wgtorrent.
//
// What it promises:
//   - The protocol's CSRF guard: every RPC must carry the session id handed
//     out in a 409 answer; optional HTTP basic auth; when auth is off, a Host
//     header whitelist against DNS rebinding (IP literals and localhost always
//     pass, as in Transmission).
//   - Loopback is not authentication: without a password, a local caller is
//     answered only if the kernel says its socket belongs to root or to the
//     daemon's user (Server.ConnContext must be wired into the http.Server).
//   - Every path a caller names resolves, symlinks followed, inside the
//     folders the daemon's owner chose (Options.DownloadDir, WritableRoots,
//     ReadableRoots), and no error quotes a byte of a file it read.
//   - Bad requests (malformed JSON, wrong argument types, oversized
//     bodies) get an error and change nothing; ids of no torrent select
//     nothing, as in Transmission.
//   - Integer torrent ids are stable across restarts: the id <-> info hash
//     table, labels and session settings live in a JSON file in
//     Options.DataDir, replaced atomically on every change; seeding goals
//     and the limits in force are the engine's.
//   - It never fetches anything itself: torrent-add with an http(s) URL is
//     refused, because that request would leave outside the tunnel.
//   - With Options.WebUI, /transmission/web/ serves that folder's
//     Transmission web client behind the same guards (/ redirects there);
//     folders without index.html are not listed.
//   - /healthz answers 200 only while the tunnel is healthy and the kill
//     switch armed; /metrics exposes Prometheus metrics.
//
// # Coverage
//
// The method-by-method table against Transmission's RPC spec
// (rpc-version 16) is in the README ("RPC coverage"), for users and
// developers alike; keep it in step with dispatch.go.
package rpc
