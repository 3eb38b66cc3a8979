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
// Method by method, against Transmission's RPC spec (rpc-version 16). A
// setting that is not implemented is refused with an error naming it,
// unless the value sent is the one session-get or torrent-get reports (a
// client saving every setting sends them back).
//
//	method                status     note
//	session-get           done       fields filter; dht-enabled/utp-enabled say what the engine runs
//	session-set           partial    download-dir, speed limits, alt speeds and their schedule,
//	                                 seedRatioLimit(ed), idle-seeding-limit(-enabled),
//	                                 start-added-torrents; encryption only unchanged; peer port
//	                                 and limits, DHT/PEX/LPD, blocklist, cache, queues, scripts,
//	                                 incomplete dir, rename-partial-files refused
//	session-stats         done       current (this run) and cumulative (all runs)
//	session-close         refused    stop wgtorrent itself
//	torrent-get           done       objects and table formats; comment, creator, group empty;
//	                                 queuePosition 0; no rpc-17 fields but percentComplete, trackerList
//	torrent-add           done       magnet, hash, local path (confined), base64 metainfo, paused,
//	                                 download-dir (confined), labels, files-wanted/unwanted,
//	                                 priority-high/normal; http(s) URLs and priority-low refused
//	torrent-start(-now)   done
//	torrent-stop          done
//	torrent-verify        done
//	torrent-reannounce    done       announces and scrapes now (after a tracker's min interval)
//	torrent-remove        done       delete-local-data removes exactly the torrent's files
//	torrent-set           partial    labels, files-wanted/unwanted, priority-high/normal,
//	                                 seeding goals (engine-kept), download/upload limits (engine),
//	                                 trackerAdd/Remove/Replace and trackerList (engine-kept);
//	                                 bandwidthPriority, peer-limit, honorsSessionLimits only
//	                                 unchanged; location, queuePosition, priority-low refused
//	torrent-set-location  done       move or point, inside the allowed folders
//	torrent-rename-path   done       one torrent; on disk too; the root renames the torrent
//	free-space            done       absolute paths only; a missing one: its error, size-bytes -1
//	port-test             refused    it would need an outside service to connect back
//	blocklist-update      refused    peers are only reachable through the tunnel
//	queue-move-*          refused    no queue: every torrent runs at once
package rpc
