package vpn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is a wg-quick configuration as a VPN provider ships it.
type Config struct {
	Name      string // file name it was read from (for messages)
	Interface Interface
	Peers     []Peer
}

// Interface is the [Interface] section.
type Interface struct {
	PrivateKey PrivateKey
	Addresses  []netip.Prefix // a bare address in the file means /32 or /128
	DNS        []netip.Addr   // IP entries of DNS=
	DNSSearch  []string       // non-IP entries of DNS= (search domains)
	MTU        int            // 0 = default
	ListenPort uint16         // 0 = random
	FwMark     uint32         // 0 = not set ("off" also gives 0)
	Table      string         // "" (= auto), "auto", "off", or a number/name as written
	TableLine  int            // line of Table=, for messages; 0 when absent
}

// Peer is one [Peer] section.
type Peer struct {
	PublicKey           PublicKey
	PresharedKey        *PresharedKey // nil when absent
	EndpointHost        string        // IP literal (no brackets) or hostname; "" when absent
	EndpointPort        uint16
	AllowedIPs          []netip.Prefix // as written (host bits may be set), validated
	PersistentKeepalive time.Duration  // "off" gives 0
	// Line and EndpointLine say where the section and its Endpoint are,
	// for messages; EndpointLine is 0 when the peer has no Endpoint.
	Line, EndpointLine int
}

// Endpoint gives host:port (IPv6 in brackets), or "" when the peer has none.
func (p Peer) Endpoint() string {
	if p.EndpointHost == "" {
		return ""
	}
	return net.JoinHostPort(p.EndpointHost, strconv.Itoa(int(p.EndpointPort)))
}

// ParseError is a problem in a config file. Line 0 means the file as a whole.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	file := e.File
	if file == "" {
		file = "config"
	}
	if e.Line <= 0 {
		return fmt.Sprintf("vpn: parse %s: %s", file, e.Msg)
	}
	return fmt.Sprintf("vpn: parse %s line %d: %s", file, e.Line, e.Msg)
}

// MTU bounds: 576 is the smallest datagram every IPv4 host must accept,
// 65535 the largest an IP packet can be.
const (
	minMTU = 576
	maxMTU = 65535
	// maxLine bounds a line so a junk file cannot make us buffer it whole.
	maxLine = 64 << 10
	// maxConfigSize bounds what Load reads; real files are well under 4 KiB.
	maxConfigSize = 1 << 20
)

// Load reads and parses a wg-quick file. Besides Parse's warnings it warns
// when the file, which holds a private key, is readable or writable by group
// or others.
func Load(path string) (*Config, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("vpn: load config: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("vpn: load config: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("vpn: load config %s: not a regular file", path)
	}
	if st.Size() > maxConfigSize {
		return nil, nil, fmt.Errorf("vpn: load config %s: %d bytes is too big for a wg-quick file (limit %d)", path, st.Size(), maxConfigSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("vpn: load config %s: %w", path, err)
	}
	cfg, warnings, err := Parse(path, bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	if perm := st.Mode().Perm(); perm&0o066 != 0 {
		warnings = append(warnings, fmt.Sprintf("%s holds a private key but is accessible by group or others (mode %04o): run chmod 600 %s", path, perm, path))
	}
	return cfg, warnings, nil
}

// Parse reads a wg-quick file. name is used in messages only. Commands
// (PreUp, PostUp, PreDown, PostDown) and SaveConfig are never acted on; they
// produce warnings. On error the config is nil and the error is a *ParseError
// (or an I/O error from r). No message ever quotes a private or preshared
// key.
func Parse(name string, r io.Reader) (*Config, []string, error) {
	p := parser{name: name, cfg: &Config{Name: name}, seen: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for sc.Scan() {
		p.line++
		text := sc.Text()
		if p.line == 1 {
			text = strings.TrimPrefix(text, "\uFEFF")
		}
		if err := p.parseLine(text); err != nil {
			return nil, nil, err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			p.line++ // the line that did not fit
			return nil, nil, p.errorf("line longer than %d bytes: this is not a wg-quick file", maxLine)
		}
		return nil, nil, fmt.Errorf("vpn: read config %s: %w", name, err)
	}
	if err := p.finish(); err != nil {
		return nil, nil, err
	}
	return p.cfg, p.warnings, nil
}

type section int

const (
	sectionNone section = iota
	sectionInterface
	sectionPeer
)

type parser struct {
	name     string
	cfg      *Config
	warnings []string
	line     int
	section  section
	// Where the sections start, for errors about what a section lacks.
	interfaceLine int
	privateKeySet bool
	// seen maps a single-valued key (lower case) to the line that set it in
	// the current section, to refuse a second value.
	seen map[string]int
}

func (p *parser) errorf(format string, args ...any) error {
	return &ParseError{File: p.name, Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) warnf(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf("line %d: ", p.line)+fmt.Sprintf(format, args...))
}

func (p *parser) parseLine(text string) error {
	// wg-quick drops everything from the first '#': a comment may follow a value.
	if i := strings.IndexByte(text, '#'); i >= 0 {
		text = text[:i]
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return nil
	}
	if strings.HasPrefix(text, "[") {
		return p.startSection(text)
	}
	rawKey, value, ok := strings.Cut(text, "=")
	if !ok {
		// The line is not quoted: it may be a pasted key.
		return p.errorf("expected Key = Value, found no '='")
	}
	key := strings.TrimSpace(rawKey)
	value = strings.TrimSpace(value)
	lower := strings.ToLower(key)
	shown := showName(key)

	switch p.section {
	case sectionNone:
		if _, ok := interfaceKeys[lower]; ok {
			return p.errorf("%s is outside a section: put it under [Interface]", shown)
		}
		if _, ok := peerKeys[lower]; ok {
			return p.errorf("%s is outside a section: put it under [Peer]", shown)
		}
		return p.errorf("%s is outside a section: the file must start with [Interface]", shown)
	case sectionInterface:
		name, ok := interfaceKeys[lower]
		if !ok {
			if pn, ok := peerKeys[lower]; ok {
				return p.errorf("%s belongs in a [Peer] section, not [Interface]", pn)
			}
			return p.errorf("unknown key %s in [Interface]: expected one of PrivateKey, Address, DNS, MTU, ListenPort, FwMark, Table", shown)
		}
		if err := p.once(lower, name); err != nil {
			return err
		}
		return p.interfaceValue(name, value)
	default:
		name, ok := peerKeys[lower]
		if !ok {
			if in, ok := interfaceKeys[lower]; ok {
				return p.errorf("%s belongs in the [Interface] section, not [Peer]", in)
			}
			return p.errorf("unknown key %s in [Peer]: expected one of PublicKey, PresharedKey, Endpoint, AllowedIPs, PersistentKeepalive", shown)
		}
		if err := p.once(lower, name); err != nil {
			return err
		}
		return p.peerValue(&p.cfg.Peers[len(p.cfg.Peers)-1], name, value)
	}
}

// Canonical spellings by lower-case name.
var interfaceKeys = map[string]string{
	"privatekey": "PrivateKey", "address": "Address", "dns": "DNS", "mtu": "MTU",
	"listenport": "ListenPort", "fwmark": "FwMark", "table": "Table",
	"preup": "PreUp", "postup": "PostUp", "predown": "PreDown", "postdown": "PostDown",
	"saveconfig": "SaveConfig",
}

var peerKeys = map[string]string{
	"publickey": "PublicKey", "presharedkey": "PresharedKey", "endpoint": "Endpoint",
	"allowedips": "AllowedIPs", "persistentkeepalive": "PersistentKeepalive",
}

// Keys that may repeat; their values accumulate. Commands may repeat too.
var repeatable = map[string]bool{
	"address": true, "dns": true, "allowedips": true,
	"preup": true, "postup": true, "predown": true, "postdown": true,
}

// once refuses a second value for a single-valued key: which one wg-quick
// would use is not obvious to whoever reads the file.
func (p *parser) once(lower, name string) error {
	if repeatable[lower] {
		return nil
	}
	if first, ok := p.seen[lower]; ok {
		return p.errorf("%s given twice in one section (first on line %d): keep one", name, first)
	}
	p.seen[lower] = p.line
	return nil
}

// showName quotes a key or section name in a message only when it looks
// like one: a malformed line may hold a private key (a missing '=' puts the
// key into the name part).
func showName(s string) string {
	if s == "" {
		return `""`
	}
	if len(s) > 24 {
		return "(name not shown)"
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "(name not shown)"
		}
	}
	return strconv.Quote(s)
}

func (p *parser) startSection(text string) error {
	if !strings.HasSuffix(text, "]") {
		return p.errorf("bad section header: expected [Interface] or [Peer]")
	}
	inner := strings.TrimSpace(text[1 : len(text)-1])
	clear(p.seen)
	switch strings.ToLower(inner) {
	case "interface":
		if p.interfaceLine != 0 {
			return p.errorf("second [Interface] section (first on line %d): a config has exactly one", p.interfaceLine)
		}
		p.interfaceLine = p.line
		p.section = sectionInterface
	case "peer":
		p.section = sectionPeer
		p.cfg.Peers = append(p.cfg.Peers, Peer{Line: p.line})
	default:
		return p.errorf("unknown section [%s]: expected [Interface] or [Peer]", strings.Trim(showName(inner), `"`))
	}
	return nil
}

func (p *parser) interfaceValue(name, value string) error {
	in := &p.cfg.Interface
	switch name {
	case "PrivateKey":
		k, err := decodeKey(value)
		if err != nil {
			return p.errorf("bad PrivateKey: %v", err)
		}
		in.PrivateKey = k
		p.privateKeySet = true
	case "Address":
		for _, v := range splitList(value) {
			pfx, err := parsePrefix(v)
			if err != nil {
				return p.errorf("bad Address %q: %v", v, err)
			}
			in.Addresses = append(in.Addresses, pfx)
		}
	case "DNS":
		for _, v := range splitList(value) {
			if a, err := netip.ParseAddr(v); err == nil {
				if a.Zone() != "" {
					return p.errorf("bad DNS %q: write the server address without a %%zone", v)
				}
				in.DNS = append(in.DNS, a)
				continue
			}
			if !isHostname(v) {
				return p.errorf("bad DNS %q: expected an IP address or a search domain", v)
			}
			in.DNSSearch = append(in.DNSSearch, v)
		}
	case "MTU":
		n, err := strconv.Atoi(value)
		if err != nil || n < minMTU || n > maxMTU {
			return p.errorf("bad MTU %q: must be a number from %d to %d", value, minMTU, maxMTU)
		}
		in.MTU = n
	case "ListenPort":
		n, err := strconv.ParseUint(value, 10, 16)
		if err != nil {
			return p.errorf("bad ListenPort %q: must be a number from 0 to 65535", value)
		}
		in.ListenPort = uint16(n)
	case "FwMark":
		m, err := parseFwMark(value)
		if err != nil {
			return p.errorf("bad FwMark %q: must be off, a decimal number or 0x followed by hex, up to 32 bits", value)
		}
		in.FwMark = m
	case "Table":
		t, err := parseTable(value)
		if err != nil {
			return p.errorf("bad Table %q: %v", value, err)
		}
		if t == "off" {
			p.warnf("Table = off is ignored: wgtorrent always routes through the tunnel, in a routing table of its own, and never changes the system's tables")
		}
		in.Table, in.TableLine = t, p.line
	case "SaveConfig":
		p.warnf("SaveConfig is ignored: wgtorrent never writes to the config")
	default: // PreUp, PostUp, PreDown, PostDown
		p.warnf("%s is ignored: wgtorrent never runs commands from the config", name)
	}
	return nil
}

func (p *parser) peerValue(peer *Peer, name, value string) error {
	switch name {
	case "PublicKey":
		k, err := ParsePublicKey(value)
		if err != nil {
			return p.errorf("bad PublicKey: %v", err)
		}
		if k == (PublicKey{}) {
			return p.errorf("bad PublicKey: all zeros is not a valid key")
		}
		peer.PublicKey = k
	case "PresharedKey":
		k, err := decodeKey(value)
		if err != nil {
			return p.errorf("bad PresharedKey: %v", err)
		}
		psk := PresharedKey(k)
		peer.PresharedKey = &psk
	case "Endpoint":
		host, port, err := parseEndpoint(value)
		if err != nil {
			return p.errorf("bad Endpoint %q: %v", value, err)
		}
		peer.EndpointHost, peer.EndpointPort, peer.EndpointLine = host, port, p.line
	case "AllowedIPs":
		for _, v := range splitList(value) {
			pfx, err := parsePrefix(v)
			if err != nil {
				return p.errorf("bad AllowedIPs %q: %v", v, err)
			}
			if pfx != pfx.Masked() {
				p.warnf("AllowedIPs %s has host bits set: it means %s", pfx, pfx.Masked())
			}
			peer.AllowedIPs = append(peer.AllowedIPs, pfx)
		}
	case "PersistentKeepalive":
		if strings.EqualFold(value, "off") {
			peer.PersistentKeepalive = 0
			break
		}
		n, err := strconv.ParseUint(value, 10, 16)
		if err != nil {
			return p.errorf("bad PersistentKeepalive %q: must be off or seconds from 0 to 65535", value)
		}
		peer.PersistentKeepalive = time.Duration(n) * time.Second
	}
	return nil
}

// finish checks what a whole file must have.
func (p *parser) finish() error {
	fileErr := func(line int, format string, args ...any) error {
		return &ParseError{File: p.name, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if p.interfaceLine == 0 {
		return fileErr(0, "no [Interface] section")
	}
	if !p.privateKeySet {
		return fileErr(p.interfaceLine, "[Interface] has no PrivateKey: copy it from your VPN provider's config")
	}
	if len(p.cfg.Peers) == 0 {
		return fileErr(0, "no [Peer] section: the config needs the VPN server as a peer")
	}
	if len(p.cfg.Interface.Addresses) == 0 {
		return fileErr(p.interfaceLine, "[Interface] has no Address: the provider's file gives the tunnel address")
	}
	// The server is the peer that carries the default route: wgtorrent
	// starts the connection, so that one needs an address to start it to.
	server, _ := p.cfg.ServerPeer()
	first := map[PublicKey]int{}
	for i := range p.cfg.Peers {
		peer := &p.cfg.Peers[i]
		line := peer.Line
		if peer.PublicKey == (PublicKey{}) {
			return fileErr(line, "[Peer] has no PublicKey")
		}
		if l, ok := first[peer.PublicKey]; ok {
			return fileErr(line, "[Peer] has the same PublicKey as the peer on line %d: merge them", l)
		}
		first[peer.PublicKey] = line
		if len(peer.AllowedIPs) == 0 {
			p.warnings = append(p.warnings, fmt.Sprintf("line %d: [Peer] has no AllowedIPs: no traffic will go to it", line))
		}
		if peer.EndpointHost == "" {
			if i == server {
				return fileErr(line, "[Peer] is the VPN server (it carries the default route) but has no Endpoint: add Endpoint = host:port from your provider's file")
			}
			p.warnings = append(p.warnings, fmt.Sprintf("line %d: [Peer] has no Endpoint: wgtorrent cannot reach it first", line))
		}
	}
	return nil
}

// splitList splits like wg-quick: on commas and whitespace, dropping empties.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t'
	})
}

// parsePrefix reads "10.0.0.2/32" or a bare address (meaning /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errors.New("expected an address with a prefix length, like 10.0.0.2/32 or fd00::2/128")
		}
		return pfx, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errors.New("expected an address with a prefix length, like 10.0.0.2/32 or fd00::2/128")
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errors.New("an address here cannot have a %zone")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseEndpoint reads host:port, where host is an IPv4 address, a hostname
// or an IPv6 address in brackets.
func parseEndpoint(s string) (string, uint16, error) {
	if s == "" {
		return "", 0, errors.New("missing value: expected host:port")
	}
	if !strings.HasPrefix(s, "[") && strings.Count(s, ":") > 1 {
		return "", 0, errors.New("an IPv6 endpoint must be in brackets, like [2001:db8::1]:51820")
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") || !strings.HasPrefix(s, "[") && !strings.Contains(s, ":") {
		return "", 0, errors.New("missing port: expected host:port, like 198.51.100.1:51820")
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, errors.New("expected host:port, like 198.51.100.1:51820 or [2001:db8::1]:51820")
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return "", 0, errors.New("port must be a number from 1 to 65535")
	}
	if strings.HasPrefix(s, "[") {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return "", 0, errors.New("brackets hold an IPv6 address, like [2001:db8::1]:51820")
		}
		return host, uint16(port), nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host, uint16(port), nil
	}
	if !isHostname(host) {
		return "", 0, errors.New("host is neither an IP address nor a hostname")
	}
	return host, uint16(port), nil
}

// isHostname accepts DNS names (letters, digits, '-', '_', dots between
// labels); a trailing dot is allowed. An all-digit last label is refused, so
// that a mistyped IPv4 address (10.64.0.300) is an error, not a name to look up.
func isHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return false
	}
	for _, label := range labels {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// parseFwMark reads "off", a decimal number or 0x hex (wg's own forms).
func parseFwMark(s string) (uint32, error) {
	if strings.EqualFold(s, "off") {
		return 0, nil
	}
	var (
		n   uint64
		err error
	)
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		n, err = strconv.ParseUint(h, 16, 32)
	} else {
		n, err = strconv.ParseUint(s, 10, 32)
	}
	return uint32(n), err
}

// systemTables are the kernel's own routing tables. wgtorrent empties its
// table at start and at exit, so it never takes one of these: with Table =
// 254 that would delete the machine's default route.
var systemTables = map[string]uint32{"default": 253, "main": 254, "local": 255}

func errSystemTable(name string, n uint32) error {
	return fmt.Errorf("table %d is the system's %s table, which wgtorrent never writes to: remove the Table line (wgtorrent then uses a table of its own, %d) or give a number no other program uses", n, name, DefaultTable)
}

// parseTable accepts what wg-quick does: auto, off, a table number or a
// table name from /etc/iproute2/rt_tables (kept as written), but none of
// the system's tables.
func parseTable(s string) (string, error) {
	switch strings.ToLower(s) {
	case "auto", "off":
		return strings.ToLower(s), nil
	case "":
		return "", errors.New("missing value: expected auto, off, or a routing table number or name")
	}
	if n, ok := systemTables[strings.ToLower(s)]; ok {
		return "", errSystemTable(strings.ToLower(s), n)
	}
	if s[0] >= '0' && s[0] <= '9' {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return "", errors.New("a table number must be from 1 to 4294967295")
		}
		if n == 0 {
			return "", errors.New("table 0 is not a table (the kernel reads it as main): remove the Table line or give a number no other program uses")
		}
		for name, sys := range systemTables {
			if uint32(n) == sys {
				return "", errSystemTable(name, sys)
			}
		}
		return s, nil
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", errors.New("expected auto, off, or a routing table number or name")
		}
	}
	return s, nil
}

// CheckSwitchable says whether the tunnel of cfg can move to next in place
// (Tunnel.Switch): the interface keeps its DNS servers, MTU and routes, so
// both files must agree on them, as one account's files for different
// servers do; keys, peers, endpoints and addresses may differ (an address
// per family each: the kill switch's IPv6 policy stays).
func CheckSwitchable(cfg, next *Config) error {
	differs := func(what string, a, b any) error {
		return fmt.Errorf("vpn: %s cannot take over from %s: %s %v, not %v (failover keeps the tunnel's %s: use files of one account)", next.Name, cfg.Name, what, b, a, strings.ToLower(what))
	}
	if families(cfg.Interface.Addresses) != families(next.Interface.Addresses) {
		return fmt.Errorf("vpn: %s cannot take over from %s: Address %v, not %v (failover keeps the tunnel's IP versions: both files need IPv4, IPv6 or both alike)",
			next.Name, cfg.Name, next.Interface.Addresses, cfg.Interface.Addresses)
	}
	if !slices.Equal(sortedAddrs(cfg.Interface.DNS), sortedAddrs(next.Interface.DNS)) {
		return differs("DNS", cfg.Interface.DNS, next.Interface.DNS)
	}
	if cfg.Interface.MTU != next.Interface.MTU {
		return differs("MTU", cfg.Interface.MTU, next.Interface.MTU)
	}
	if cfg.Interface.Table != next.Interface.Table {
		return differs("Table", cfg.Interface.Table, next.Interface.Table)
	}
	a, _ := cfg.ServerPeer()
	b, _ := next.ServerPeer()
	if !samePrefixes(cfg.Peers[a].AllowedIPs, next.Peers[b].AllowedIPs) {
		return differs("AllowedIPs", cfg.Peers[a].AllowedIPs, next.Peers[b].AllowedIPs)
	}
	return nil
}

// families says which IP versions the addresses have: 1 IPv4, 2 IPv6.
func families(ps []netip.Prefix) int {
	f := 0
	for _, p := range ps {
		if p.Addr().Is4() {
			f |= 1
		} else {
			f |= 2
		}
	}
	return f
}

func samePrefixes(a, b []netip.Prefix) bool {
	norm := func(ps []netip.Prefix) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Masked().String())
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}

func sortedAddrs(as []netip.Addr) []netip.Addr {
	out := slices.Clone(as)
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// ConfigFiles expands the --config arguments: a file stays, a directory
// gives its *.conf files in name order. The order is the failover order.
func ConfigFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("vpn: config %s: %w", a, err)
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		m, err := filepath.Glob(filepath.Join(a, "*.conf"))
		if err != nil {
			return nil, fmt.Errorf("vpn: config directory %s: %w", a, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("vpn: config directory %s has no .conf file", a)
		}
		slices.Sort(m)
		out = append(out, m...)
	}
	return out, nil
}
