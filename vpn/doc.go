// Package vpn reads the wg-quick configuration a VPN provider ships and brings
// up a WireGuard tunnel with the wireguard-go library on a kernel TUN device.
//
// What it promises:
//   - The configuration is parsed, never executed: PreUp/PostUp and friends
//     are reported and ignored, and a broken file names its line.
//   - A private key never reaches a log, an error or fmt output.
//   - Routing follows wg-quick's scheme for a whole network namespace: the
//     tunnel's own UDP socket carries a fwmark, a table of our own holds the
//     routes through the tunnel, and two policy rules send every unmarked
//     packet there. Whatever Up installs, Close removes, and nothing else:
//     the system's tables are refused, and so is a table that holds
//     another program's routes. A leftover of a crashed run is recognised
//     by name and priority and replaced.
//   - Every file comes up without waiting for traffic: the handshake is
//     started as soon as the device is up, keepalive or not.
//   - Status is read from the device (handshake time, byte counters), never
//     guessed.
package vpn
