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
