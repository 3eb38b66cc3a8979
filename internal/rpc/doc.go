// Package rpc serves the Transmission RPC protocol (rpc-version 17, the one
// Transmission 4.0 speaks, with the legacy argument names of 3.00) over a
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
//   - Bad requests (malformed JSON, wrong argument types, unknown ids,
//     oversized bodies) get an error and change nothing.
//   - Integer torrent ids are stable across restarts: the id <-> info hash
//     table, labels and seeding limits live in a JSON file in Options.DataDir,
//     replaced atomically on every change.
//   - It never fetches anything itself: torrent-add with an http(s) URL is
//     refused, because that request would leave outside the tunnel.
//   - /healthz answers 200 only while the tunnel is healthy and the kill
//     switch armed; /metrics exposes Prometheus metrics.
package rpc
