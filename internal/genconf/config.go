package genconf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// File is the TOML description of a cluster, as decoded. Parse fills it and
// checks it; Generate renders it. Fields left unset in the TOML take the
// defaults documented in the package comment.
type File struct {
	Cluster   Cluster   `toml:"cluster"`
	Nodes     []Node    `toml:"node"`
	VIP       VIP       `toml:"vip"`
	Broker    Broker    `toml:"broker"`
	Pacemaker Pacemaker `toml:"pacemaker"`
	RGManager RGManager `toml:"rgmanager"`
	Fence     []Fence   `toml:"fence"`
}

// Cluster is [cluster].
type Cluster struct {
	Name          string `toml:"name"`
	ConfigVersion *int64 `toml:"config_version"`
	Transport     string `toml:"transport"`
	// Corosync's totem timeouts (ms) for the pcs cluster setup hint;
	// opt-in (nil: corosync's defaults).
	TotemToken     *int64 `toml:"totem_token"`
	TotemConsensus *int64 `toml:"totem_consensus"`
}

// Node is one [[node]].
type Node struct {
	Name          string         `toml:"name"`
	Address       string         `toml:"address"`
	ClientAddress string         `toml:"client_address"`
	NodeID        *int64         `toml:"nodeid"`
	Options       map[string]any `toml:"options"`
	Fence         []NodeFence    `toml:"fence"`
}

// NodeFence is one entry of a node's fence list: a device used by a method.
type NodeFence struct {
	Method  string         `toml:"method"`
	Device  string         `toml:"device"`
	Options map[string]any `toml:"options"`
}

// VIP is [vip].
type VIP struct {
	Address     string `toml:"address"`
	CIDRNetmask *int64 `toml:"cidr_netmask"`
	NIC         string `toml:"nic"`
	MonitorLink *bool  `toml:"monitor_link"`
	Sleeptime   *int64 `toml:"sleeptime"`
}

// Broker is [broker]: the qpidd options every node's qpidd.conf gets.
type Broker struct {
	ConfigPath              string         `toml:"config_path"`
	Port                    *int64         `toml:"port"`
	DataDir                 string         `toml:"data_dir"`
	HAReplicate             string         `toml:"ha_replicate"`
	HAUsername              string         `toml:"ha_username"`
	HAPassword              string         `toml:"ha_password"`
	HAMechanism             string         `toml:"ha_mechanism"`
	LinkMaintenanceInterval any            `toml:"link_maintenance_interval"`
	LinkHeartbeatInterval   any            `toml:"link_heartbeat_interval"`
	HABackupTimeout         any            `toml:"ha_backup_timeout"`
	Auth                    *bool          `toml:"auth"`
	ACLFile                 string         `toml:"acl_file"`
	SSLCertFile             string         `toml:"ssl_cert_file"`
	SSLKeyFile              string         `toml:"ssl_key_file"`
	SSLCAFile               string         `toml:"ssl_ca_file"`
	SSLPort                 *int64         `toml:"ssl_port"`
	SSLOnly                 *bool          `toml:"ssl_only"`
	SSLRequireClientAuth    *bool          `toml:"ssl_require_client_authentication"`
	Options                 map[string]any `toml:"options"`
}

// Pacemaker is [pacemaker].
type Pacemaker struct {
	Resource                  string         `toml:"resource"`
	Clone                     string         `toml:"clone"`
	Agent                     string         `toml:"agent"`
	VIPResource               string         `toml:"vip_resource"`
	MonitorPromotedInterval   any            `toml:"monitor_promoted_interval"`
	MonitorUnpromotedInterval any            `toml:"monitor_unpromoted_interval"`
	MonitorTimeout            any            `toml:"monitor_timeout"`
	StartTimeout              any            `toml:"start_timeout"`
	StopTimeout               any            `toml:"stop_timeout"`
	PromoteTimeout            any            `toml:"promote_timeout"`
	DemoteTimeout             any            `toml:"demote_timeout"`
	NotifyTimeout             any            `toml:"notify_timeout"`
	VIPMonitorInterval        any            `toml:"vip_monitor_interval"`
	VIPMonitorTimeout         any            `toml:"vip_monitor_timeout"`
	StonithEnabled            *bool          `toml:"stonith_enabled"`
	Properties                map[string]any `toml:"properties"`
	Meta                      map[string]any `toml:"meta"`
	AgentParams               map[string]any `toml:"agent_params"`
}

// RGManager is [rgmanager].
type RGManager struct {
	StatusPollInterval *int64 `toml:"status_poll_interval"`
	QpiddScript        string `toml:"qpidd_script"`
	PrimaryScript      string `toml:"primary_script"`
}

// Fence is one [[fence]]: a fence device.
type Fence struct {
	Name       string         `toml:"name"`
	Agent      string         `toml:"agent"`
	Options    map[string]any `toml:"options"`
	PcsOptions map[string]any `toml:"pcs_options"`
}

// Defaults.
const (
	DefaultConfigVersion      = 1
	DefaultConfigPath         = "/etc/qpid/qpidd.conf"
	DefaultPort               = 5672
	DefaultSSLPort            = 5671
	DefaultDataDir            = "/var/lib/qpidd"
	DefaultHAReplicate        = "all"
	DefaultResource           = "qpidd"
	DefaultAgent              = "ocf:qpid:qpidd"
	DefaultVIPResource        = "qpidd-vip"
	DefaultStatusPollInterval = 10
	DefaultQpiddScript        = "/etc/init.d/qpidd"
	DefaultPrimaryScript      = "/etc/init.d/qpidd-primary"
	DefaultSleeptime          = 10
	DefaultFenceMethod        = "1"
)

// Default operation timings of the resource (those of ocf:qpid:qpidd's
// meta-data) and of the VIP's monitor.
var defaultOps = map[string]string{
	"monitor_promoted_interval":   "10s",
	"monitor_unpromoted_interval": "11s",
	"monitor_timeout":             "30s",
	"start_timeout":               "60s",
	"stop_timeout":                "60s",
	"promote_timeout":             "60s",
	"demote_timeout":              "90s",
	"notify_timeout":              "20s",
	"vip_monitor_interval":        "10s",
}

// Spec is a checked cluster description, ready to render.
type Spec struct {
	Source   string // base name of the TOML file, for the generated files' headers
	File     File
	Warnings []string

	// Derived and defaulted values.
	configVersion int64
	nodes         []*node
	vip           vipSpec
	conf          []confEntry // qpidd.conf entries of every node
	tls           tlsSpec
	pcm           pcmSpec
	rgm           rgmSpec
	fences        []*fenceSpec
}

type node struct {
	name, short   string
	address       string
	clientAddress string
	nodeid        int64
	conf          []confEntry // node-only qpidd.conf entries
	methods       []*method
	fenceByDevice map[string]*NodeFence
	pcsDevice     map[string]string // fence device name -> Pacemaker stonith id for this node
	key           string            // "node[1]"
}

type method struct {
	name    string
	devices []*NodeFence
}

type vipSpec struct {
	address     string
	cidr        int64 // -1: none
	nic         string
	monitorLink bool
	sleeptime   int64
}

// tlsSpec is what [broker]'s TLS keys make of the cluster.
type tlsSpec struct {
	on      bool  // ssl_cert_file is set: the brokers listen for TLS and link to each other over it
	port    int64 // ssl-port
	only    bool  // ssl_only: no plain TCP listener
	clients bool  // ssl_require_client_authentication
}

type pcmSpec struct {
	resource, clone, agent, vip string
	ops                         map[string]string
	stonithEnabled              bool
	properties                  []kv
	meta                        []kv
	agentParams                 []kv
}

type rgmSpec struct {
	statusPollInterval int64
	qpiddScript        string
	primaryScript      string
}

type fenceSpec struct {
	Fence
	options    []kv
	pcsOptions []kv
	users      []*node
}

type kv struct{ k, v string }

// Errors is every problem found in a cluster description, one per line.
type Errors []error

func (e Errors) Error() string {
	s := make([]string, len(e))
	for i, err := range e {
		s[i] = err.Error()
	}
	return strings.Join(s, "\n")
}

// ErrInvalid is wrapped by every validation error (errors.Is).
var ErrInvalid = errors.New("invalid cluster description")

type keyError struct {
	file, key, msg string
}

func (e *keyError) Error() string {
	if e.key == "" {
		return fmt.Sprintf("%s: %s", e.file, e.msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.file, e.key, e.msg)
}

func (e *keyError) Unwrap() error { return ErrInvalid }

// LoadFile reads and checks the cluster description in path.
func LoadFile(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes and checks a cluster description; name is the file's name
// for messages. The error, if any, lists every problem found (Errors).
func Parse(name string, data []byte) (*Spec, error) {
	var f File
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&f)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, Errors{&keyError{file: fmt.Sprintf("%s:%d", name, pe.Position.Line), msg: pe.Message}}
		}
		// A value of the wrong type: "toml: line 5 (last key "broker.port"): incompatible types: ..."
		msg := strings.TrimPrefix(err.Error(), "toml: ")
		if m := decodeErrRE.FindStringSubmatch(msg); m != nil {
			return nil, Errors{&keyError{file: name + ":" + m[1], key: m[2], msg: m[3]}}
		}
		return nil, Errors{&keyError{file: name, msg: msg}}
	}
	c := &checker{file: name, text: string(data)}
	undecoded := map[string]bool{}
	for _, k := range md.Undecoded() {
		undecoded[k.String()] = true
	}
	for _, k := range md.Undecoded() {
		// Report an unknown table once, not each of its keys.
		inUnknown := false
		for i := 1; i < len(k); i++ {
			inUnknown = inUnknown || undecoded[k[:i].String()]
		}
		if !inUnknown && !underFreeForm(k) {
			c.unknownKey(k, md.Type(k...))
		}
	}
	s := &Spec{Source: filepath.Base(name), File: f}
	c.check(s)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	s.Warnings = c.warnings
	return s, nil
}

var decodeErrRE = regexp.MustCompile(`^line ([0-9]+) \(last key "([^"]*)"\): (.*)$`)

// checker collects the problems of one description.
type checker struct {
	file     string
	text     string
	errs     Errors
	warnings []string
}

func (c *checker) errorf(key, format string, a ...any) {
	c.errs = append(c.errs, &keyError{file: c.file, key: key, msg: fmt.Sprintf(format, a...)})
}

func (c *checker) warnf(key, format string, a ...any) {
	c.warnings = append(c.warnings, (&keyError{file: c.file, key: key, msg: fmt.Sprintf(format, a...)}).Error())
}

// unknownKey reports a key the schema does not have, with the line where it
// is written when that can be found, and the nearest known key.
func (c *checker) unknownKey(k toml.Key, typ string) {
	where := c.file
	last := k[len(k)-1]
	// Look for the key after the header of its table (or of the nearest
	// enclosing one), or for the table's own header.
	from := 0
	for i := len(k) - 1; i > 0 && from == 0; i-- {
		from = findTableLine(c.text, k[:i].String())
	}
	if line := findKeyLineFrom(c.text, last, from); line > 0 {
		where = fmt.Sprintf("%s:%d", c.file, line)
	} else if line := findTableLine(c.text, k.String()); line > 0 {
		where = fmt.Sprintf("%s:%d", c.file, line)
	}
	msg := "unknown key"
	if typ == "Hash" || typ == "ArrayHash" {
		msg = "unknown table"
	}
	known := knownKeys(k[:len(k)-1])
	if len(known) == 0 {
		msg = "unknown table"
	} else if s := suggest(last, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else {
		msg += " (known keys: " + strings.Join(known, ", ") + ")"
	}
	c.errs = append(c.errs, &keyError{file: where, key: k.String(), msg: msg})
}

// findKeyLine is the first line where key is assigned (key = ...), 0 if none.
func findKeyLine(text, key string) int { return findKeyLineFrom(text, key, 0) }

// findKeyLineFrom is the first line after line from (1-based; 0: from the
// start) where key is assigned, 0 if none.
func findKeyLineFrom(text, key string, from int) int {
	re := regexp.MustCompile(`(^|[{,]\s*)("` + regexp.QuoteMeta(key) + `"|'` + regexp.QuoteMeta(key) + `'|` + regexp.QuoteMeta(key) + `)\s*=`)
	for i, line := range strings.Split(text, "\n") {
		if i+1 > from && re.MatchString(strings.TrimSpace(line)) {
			return i + 1
		}
	}
	return 0
}

// findTableLine is the first line of a [table] or [[table]] header, 0 if none.
func findTableLine(text, table string) int {
	for i, line := range strings.Split(text, "\n") {
		l := strings.TrimSpace(line)
		if l == "["+table+"]" || l == "[["+table+"]]" {
			return i + 1
		}
	}
	return 0
}

// knownKeys lists the keys of the table at path in the schema (sorted);
// nil if path is not a table of the schema.
func knownKeys(path []string) []string {
	t := reflect.TypeOf(File{})
	for _, p := range path {
		f, ok := fieldByTag(t, p)
		if !ok {
			return nil
		}
		t = f.Type
		for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil
		}
	}
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		keys = append(keys, t.Field(i).Tag.Get("toml"))
	}
	sort.Strings(keys)
	return keys
}

// underFreeForm: the key is inside a free-form table (map[string]any), whose
// values the checks look at.
func underFreeForm(k toml.Key) bool {
	t := reflect.TypeOf(File{})
	for _, p := range k {
		for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() == reflect.Map {
			return true
		}
		if t.Kind() != reflect.Struct {
			return false
		}
		f, ok := fieldByTag(t, p)
		if !ok {
			return false
		}
		t = f.Type
	}
	return false
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("toml") == tag {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

// Name syntaxes.
var (
	// Pacemaker ids, fence device names (XML IDs in cluster.conf), rgmanager names.
	idRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
	// Host names and IPv4 addresses (cluster node names).
	hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)
	// cman cluster names.
	clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// Parameter names: fence agent options, OCF parameters.
	paramRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	// Pacemaker property names.
	propertyRE = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	// Pacemaker durations: a number with an optional unit.
	pcmkDurationRE = regexp.MustCompile(`^([0-9]+)(ms|msec|us|usec|s|sec|m|min|h|hr)?$`)
	// NIC names.
	nicRE = regexp.MustCompile(`^[A-Za-z0-9_.:@-]{1,15}$`)
)

// Reserved names.
const (
	maxClusterName = 15 // cman's limit
)

func (c *checker) check(s *Spec) {
	c.checkCluster(s)
	c.checkNodes(s)
	c.checkVIP(s)
	c.checkBroker(s)
	c.checkPacemaker(s)
	c.checkRGManager(s)
	c.checkFence(s)
}

func (c *checker) checkCluster(s *Spec) {
	cl := s.File.Cluster
	switch {
	case cl.Name == "":
		c.errorf("cluster.name", "missing: the cluster's name (cman's cluster name, at most %d characters)", maxClusterName)
	case !clusterNameRE.MatchString(cl.Name):
		c.errorf("cluster.name", "%q: use letters, digits, '-' and '_' only", cl.Name)
	case len(cl.Name) > maxClusterName:
		c.errorf("cluster.name", "%q is %d characters long: cman accepts at most %d", cl.Name, len(cl.Name), maxClusterName)
	}
	s.configVersion = DefaultConfigVersion
	if cl.ConfigVersion != nil {
		if *cl.ConfigVersion < 1 {
			c.errorf("cluster.config_version", "%d: must be a positive integer (raise it with every change of cluster.conf)", *cl.ConfigVersion)
		}
		s.configVersion = *cl.ConfigVersion
	}
	switch cl.Transport {
	case "", "udp", "udpb", "udpu", "rdma":
	default:
		c.errorf("cluster.transport", "%q: cman's transport is one of udp (multicast, the default), udpb (broadcast), udpu (unicast), rdma", cl.Transport)
	}
	c.checkTotem(cl)
}

// DefaultTotemToken is corosync's token timeout (ms) when none is set.
const DefaultTotemToken = 3000

// checkTotem checks totem_token and totem_consensus: positive numbers of
// milliseconds, and consensus at least 1.2 x token (corosync.conf(5): the
// minimum; corosync's own default when consensus is not set).
func (c *checker) checkTotem(cl Cluster) {
	token := int64(DefaultTotemToken)
	if cl.TotemToken != nil {
		token = *cl.TotemToken
		if token < 1 {
			c.errorf("cluster.totem_token", "%d: must be a positive number of milliseconds (corosync's default is %d)", token, DefaultTotemToken)
			return
		}
	}
	if cl.TotemConsensus == nil {
		return
	}
	cons := *cl.TotemConsensus
	switch {
	case cons < 1:
		c.errorf("cluster.totem_consensus", "%d: must be a positive number of milliseconds (leave it out for corosync's default, 1.2 x totem_token)", cons)
	case cons*5 < token*6:
		what := "totem_token"
		if cl.TotemToken == nil {
			what = "corosync's default token"
		}
		c.errorf("cluster.totem_consensus", "%d: must be at least 1.2 x %s (%d ms): %d or more, or leave it out for corosync's default, 1.2 x the token", cons, what, token, (token*6+4)/5)
	}
}

func (c *checker) checkNodes(s *Spec) {
	nodes := s.File.Nodes
	if len(nodes) < 2 {
		c.errorf("node", "%d [[node]] tables: a cluster needs at least 2 nodes (3 or more for quorum without two_node mode)", len(nodes))
	}
	names := map[string]string{}
	addrs := map[string]string{}
	ids := map[int64]string{}
	for i, n := range nodes {
		key := fmt.Sprintf("node[%d]", i+1)
		nd := &node{name: n.Name, address: n.Address, clientAddress: n.ClientAddress, key: key, nodeid: int64(i + 1)}
		switch {
		case n.Name == "":
			c.errorf(key+".name", "missing: the node's name in the cluster (its uname -n)")
		case len(n.Name) > 253 || !hostRE.MatchString(n.Name):
			c.errorf(key+".name", "%q: not a host name", n.Name)
		case names[n.Name] != "":
			c.errorf(key+".name", "%q: duplicate node name (also %s)", n.Name, names[n.Name])
		default:
			names[n.Name] = key
		}
		switch {
		case n.Address == "":
			c.errorf(key+".address", "missing: the address the other brokers connect to (cluster network)")
		case !isHostOrIP(n.Address):
			c.errorf(key+".address", "%q: not an IP address or host name", n.Address)
		case addrs[n.Address] != "":
			c.errorf(key+".address", "%q: duplicate address (also %s)", n.Address, addrs[n.Address])
		default:
			addrs[n.Address] = key
		}
		if n.ClientAddress != "" && !isHostOrIP(n.ClientAddress) {
			c.errorf(key+".client_address", "%q: not an IP address or host name", n.ClientAddress)
		}
		if n.NodeID != nil {
			if *n.NodeID < 1 {
				c.errorf(key+".nodeid", "%d: must be a positive integer", *n.NodeID)
			}
			nd.nodeid = *n.NodeID
		}
		if other, dup := ids[nd.nodeid]; dup {
			c.errorf(key+".nodeid", "%d: duplicate nodeid (also %s)", nd.nodeid, other)
		} else {
			ids[nd.nodeid] = key
		}
		s.nodes = append(s.nodes, nd)
	}
	// Short names: the first label of each name, unless that is ambiguous or
	// the names are addresses.
	short := map[string]int{}
	for _, nd := range s.nodes {
		short[firstLabel(nd.name)]++
	}
	useShort := true
	for _, n := range short {
		if n > 1 {
			useShort = false
		}
	}
	for _, nd := range s.nodes {
		nd.short = nd.name
		if useShort {
			nd.short = firstLabel(nd.name)
		}
	}
}

func firstLabel(name string) string {
	if isIP(name) {
		return name
	}
	l, _, _ := strings.Cut(name, ".")
	return l
}

func (c *checker) checkVIP(s *Spec) {
	v := s.File.VIP
	s.vip = vipSpec{address: v.Address, cidr: -1, nic: v.NIC, monitorLink: true, sleeptime: DefaultSleeptime}
	ip := parseIP(v.Address)
	switch {
	case v.Address == "":
		c.errorf("vip.address", "missing: the virtual IP address clients connect to")
	case ip == nil:
		c.errorf("vip.address", "%q: not an IP address", v.Address)
	}
	for _, nd := range s.nodes {
		if nd.address == v.Address || nd.clientAddress == v.Address {
			c.errorf("vip.address", "%q is also the address of %s: the VIP must be an address of its own", v.Address, nd.key)
		}
	}
	if v.CIDRNetmask != nil {
		maxPrefix := int64(32)
		if ip != nil && ip.To4() == nil {
			maxPrefix = 128
		}
		if *v.CIDRNetmask < 1 || *v.CIDRNetmask > maxPrefix {
			c.errorf("vip.cidr_netmask", "%d: a prefix length is 1..%d", *v.CIDRNetmask, maxPrefix)
		} else {
			s.vip.cidr = *v.CIDRNetmask
		}
	}
	if v.NIC != "" && !nicRE.MatchString(v.NIC) {
		c.errorf("vip.nic", "%q: not a network interface name", v.NIC)
	}
	if v.MonitorLink != nil {
		s.vip.monitorLink = *v.MonitorLink
	}
	if v.Sleeptime != nil {
		if *v.Sleeptime < 0 {
			c.errorf("vip.sleeptime", "%d: seconds, 0 or more", *v.Sleeptime)
		}
		s.vip.sleeptime = *v.Sleeptime
	}
	// The VIP should be in the subnet of some node's client (or cluster)
	// address, or IPaddr2 cannot find an interface for it.
	if ip != nil && s.vip.cidr > 0 {
		found, anyIP := false, false
		for _, nd := range s.nodes {
			a := nd.clientAddress
			if a == "" {
				a = nd.address
			}
			if nip := parseIP(a); nip != nil {
				anyIP = true
				if sameSubnet(ip, nip, int(s.vip.cidr)) {
					found = true
				}
			}
		}
		if anyIP && !found {
			c.warnf("vip.address", "%s/%d is in the subnet of no node's client_address (or address): IPaddr2 and rgmanager's ip agent need an interface on that subnet (set vip.nic, or check the addresses)", v.Address, s.vip.cidr)
		}
	}
}

func (c *checker) checkRGManager(s *Spec) {
	r := s.File.RGManager
	s.rgm = rgmSpec{statusPollInterval: DefaultStatusPollInterval, qpiddScript: r.QpiddScript, primaryScript: r.PrimaryScript}
	if r.StatusPollInterval != nil {
		if *r.StatusPollInterval < 1 {
			c.errorf("rgmanager.status_poll_interval", "%d: whole seconds, at least 1", *r.StatusPollInterval)
		}
		s.rgm.statusPollInterval = *r.StatusPollInterval
	}
	if s.rgm.qpiddScript == "" {
		s.rgm.qpiddScript = DefaultQpiddScript
	}
	if s.rgm.primaryScript == "" {
		s.rgm.primaryScript = DefaultPrimaryScript
	}
	for key, p := range map[string]string{"rgmanager.qpidd_script": s.rgm.qpiddScript, "rgmanager.primary_script": s.rgm.primaryScript} {
		if !isAbsPath(p) {
			c.errorf(key, "%q: an absolute path", p)
		}
	}
	if s.rgm.qpiddScript == s.rgm.primaryScript {
		c.errorf("rgmanager.primary_script", "%q: the same script as qpidd_script", s.rgm.primaryScript)
	}
}

func isAbsPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.ContainsAny(p, "\x00\n\r")
}

// scalar renders a TOML value for a name=value setting: strings as they
// are, integers and floats in decimal, booleans as yes/no words of the
// target (t, f). Tables, arrays and dates are refused.
func scalar(v any, t, f string) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		if x {
			return t, nil
		}
		return f, nil
	}
	return "", fmt.Errorf("expected a string, number or boolean, not %s", tomlType(v))
}

func tomlType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a table"
	case []any, []map[string]any:
		return "an array"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("a %T", v)
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// durationText reads a Pacemaker duration: a TOML integer (seconds) or a
// string such as "10s", "500ms", "2min".
func (c *checker) pcmkDuration(key string, v any, def string) string {
	if v == nil {
		return def
	}
	var s string
	switch x := v.(type) {
	case int64:
		s = strconv.FormatInt(x, 10) + "s"
	case string:
		s = x
	default:
		c.errorf(key, "expected a duration such as \"10s\" (or whole seconds), not %s", tomlType(v))
		return def
	}
	if !pcmkDurationRE.MatchString(s) {
		c.errorf(key, "%q: expected a whole number with an optional unit ms, s, min or h (e.g. \"10s\", \"500ms\")", s)
		return def
	}
	return s
}

// pcmkMillis is a Pacemaker duration in milliseconds (for comparisons).
func pcmkMillis(s string) int64 {
	m := pcmkDurationRE.FindStringSubmatch(s)
	if m == nil {
		return -1
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	switch m[2] {
	case "ms", "msec":
		return n
	case "us", "usec":
		return n / 1000
	case "m", "min":
		return n * 60000
	case "h", "hr":
		return n * 3600000
	}
	return n * 1000
}
