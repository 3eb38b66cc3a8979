package killswitch

// Firewall writes rule sets to the kernel through netlink.
type Firewall struct {
	// NetNS is 0 for the current network namespace, else an open fd of a
	// network namespace (tests apply into a namespace of their own).
	NetNS int
}

// Status is what the kernel holds for our table.
type Status struct {
	Present     bool
	Mode        Mode
	RejectedOut uint64 // packets rejected by the output chain's counted rules
	DroppedIn   uint64 // packets dropped by the input chain's final rule
	Rules       string // nft-like listing with counters, for `killswitch status -v`
}

// State is the kill switch as last measured in the kernel (never as
// configured), as every front end shows it.
type State string

const (
	StateArmed   State = "armed"   // the kernel holds the table as applied, measured within the last seconds
	StateBroken  State = "broken"  // the table is missing or changed; being put back
	StateUnknown State = "unknown" // not measured recently (the kernel could not be read)
	StateOff     State = "off"     // the kill switch is turned off
)
