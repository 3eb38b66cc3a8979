package client

import (
	"fmt"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/mse"
)

// Encryption is the BitTorrent protocol encryption (MSE/PE) policy, in
// Transmission's terms. It hides BitTorrent from the networks between the
// VPN server and the peers; it is obfuscation (RC4), not privacy: the
// tunnel already encrypts everything up to the VPN server, and peers see
// the VPN's address whatever the policy.
type Encryption string

const (
	// EncryptionTolerated (the default) opens plaintext connections and
	// retries encrypted when a peer insists; incoming connections may be
	// either. Encrypting every byte with RC4 cost about 1 CPU-second per
	// GiB, a tenth of the whole download path (tunnel included), and
	// qBittorrent picks it whenever it is offered.
	EncryptionTolerated Encryption = "tolerated"
	// EncryptionPreferred opens encrypted connections, falling back to
	// plaintext with peers that cannot encrypt.
	EncryptionPreferred Encryption = "preferred"
	// EncryptionRequired talks to encrypting peers only, both ways.
	EncryptionRequired Encryption = "required"
)

// ParseEncryption accepts the three policies' names; "" is the default.
func ParseEncryption(s string) (Encryption, error) {
	switch e := Encryption(s); e {
	case "":
		return EncryptionTolerated, nil
	case EncryptionTolerated, EncryptionPreferred, EncryptionRequired:
		return e, nil
	}
	return "", fmt.Errorf("encryption %q: want tolerated, preferred or required", s)
}

// apply sets anacrolix's handshake policy. anacrolix retries a failed
// outgoing handshake the other way (plain after obfuscated, or the reverse)
// unless RequirePreferred.
func (e Encryption) apply(cfg *torrent.ClientConfig) {
	rc4Only := func(provided mse.CryptoMethod) mse.CryptoMethod { return provided & mse.CryptoMethodRC4 }
	switch e {
	case EncryptionRequired:
		cfg.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: true, RequirePreferred: true}
		cfg.CryptoProvides = mse.CryptoMethodRC4
		cfg.CryptoSelector = rc4Only // nothing else chosen: the handshake fails
	case EncryptionPreferred:
		cfg.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: true}
		cfg.CryptoProvides = mse.CryptoMethodRC4
		cfg.CryptoSelector = func(provided mse.CryptoMethod) mse.CryptoMethod {
			if provided&mse.CryptoMethodRC4 != 0 {
				return mse.CryptoMethodRC4
			}
			return mse.CryptoMethodPlaintext
		}
	default:
		cfg.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{}
		cfg.CryptoProvides = mse.AllSupportedCrypto    // on the encrypted retry, let the peer choose
		cfg.CryptoSelector = mse.DefaultCryptoSelector // plaintext when offered
	}
}
