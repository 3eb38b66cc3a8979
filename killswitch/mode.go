package killswitch

import (
	"fmt"
	"strings"
)

// Mode says whether the kill switch is installed and what happens to it when
// wgtorrent exits.
type Mode string

const (
	// ModeOn installs the table while wgtorrent runs and removes it at a clean
	// exit. After a crash the table stays (fail closed) until the next start
	// replaces it or `wgtorrent killswitch off` removes it.
	ModeOn Mode = "on"
	// ModePersist leaves the table in place after exit: the machine stays in
	// lockdown (no traffic outside the tunnel) until the user removes it.
	ModePersist Mode = "persist"
	// ModeOff installs nothing.
	ModeOff Mode = "off"
)

// ParseMode parses a mode name as given on the command line; "" means ModeOn.
func ParseMode(s string) (Mode, error) {
	switch Mode(strings.ToLower(strings.TrimSpace(s))) {
	case "", ModeOn:
		return ModeOn, nil
	case ModePersist:
		return ModePersist, nil
	case ModeOff:
		return ModeOff, nil
	}
	return "", fmt.Errorf("killswitch: unknown mode %q (want %q, %q or %q)", s, ModeOn, ModePersist, ModeOff)
}
