package genconf

import (
	"fmt"
	"sort"
	"strings"
)

// agentParamsOf are the parameters of ocf:qpid:qpidd (agents/ocf/qpidd). The
// generator sets config, data_dir, port, ssl and ssl_port itself, from [broker].
var agentParamsOf = []string{"binary", "config", "data_dir", "first_start_ignore", "options", "port", "qpid_ha", "ssl", "ssl_port", "timeout", "user"}

// generatedAgentParams are set from [broker]; agent_params may not set them.
var generatedAgentParams = map[string]string{
	"config":   "broker.config_path",
	"data_dir": "broker.data_dir",
	"port":     "broker.port",
	"ssl":      "broker.ssl_cert_file (yes when it is set: the agent reaches the broker over TLS)",
	"ssl_port": "broker.ssl_port",
}

func (c *checker) checkPacemaker(s *Spec) {
	p := s.File.Pacemaker
	pc := pcmSpec{resource: p.Resource, clone: p.Clone, agent: p.Agent, vip: p.VIPResource, ops: map[string]string{}}
	if pc.resource == "" {
		pc.resource = DefaultResource
	}
	if pc.clone == "" {
		pc.clone = pc.resource + "-clone"
	}
	if pc.agent == "" {
		pc.agent = DefaultAgent
	}
	if pc.vip == "" {
		pc.vip = DefaultVIPResource
	}
	ids := map[string]string{}
	for _, t := range []struct{ key, id string }{
		{"pacemaker.resource", pc.resource},
		{"pacemaker.clone", pc.clone},
		{"pacemaker.vip_resource", pc.vip},
	} {
		if !idRE.MatchString(t.id) {
			c.errorf(t.key, "%q: a Pacemaker id starts with a letter or '_' and has letters, digits, '_', '.', '-' only", t.id)
		} else if other, dup := ids[t.id]; dup {
			c.errorf(t.key, "%q: the same id as %s", t.id, other)
		} else {
			ids[t.id] = t.key
		}
	}
	if parts := strings.Split(pc.agent, ":"); len(parts) != 3 || parts[0] != "ocf" || !paramRE.MatchString(parts[1]) || !paramRE.MatchString(parts[2]) {
		c.errorf("pacemaker.agent", "%q: expected ocf:PROVIDER:AGENT (the default is %s)", pc.agent, DefaultAgent)
	}
	for _, t := range []struct {
		key string
		v   any
	}{
		{"monitor_promoted_interval", p.MonitorPromotedInterval},
		{"monitor_unpromoted_interval", p.MonitorUnpromotedInterval},
		{"monitor_timeout", p.MonitorTimeout},
		{"start_timeout", p.StartTimeout},
		{"stop_timeout", p.StopTimeout},
		{"promote_timeout", p.PromoteTimeout},
		{"demote_timeout", p.DemoteTimeout},
		{"notify_timeout", p.NotifyTimeout},
		{"vip_monitor_interval", p.VIPMonitorInterval},
		{"vip_monitor_timeout", p.VIPMonitorTimeout},
	} {
		if t.v == nil && defaultOps[t.key] == "" {
			continue
		}
		pc.ops[t.key] = c.pcmkDuration("pacemaker."+t.key, t.v, defaultOps[t.key])
		if pcmkMillis(pc.ops[t.key]) == 0 {
			c.errorf("pacemaker."+t.key, "%q: must not be zero", pc.ops[t.key])
		}
	}
	if a, b := pcmkMillis(pc.ops["monitor_promoted_interval"]), pcmkMillis(pc.ops["monitor_unpromoted_interval"]); a == b {
		c.errorf("pacemaker.monitor_unpromoted_interval", "%q: the same interval as monitor_promoted_interval; Pacemaker needs a different interval for each role's monitor (e.g. 10s and 11s)", pc.ops["monitor_unpromoted_interval"])
	}
	if p.StonithEnabled != nil {
		pc.stonithEnabled = *p.StonithEnabled
	} else {
		pc.stonithEnabled = true
	}
	for _, k := range sortedKeys(p.Properties) {
		key := "pacemaker.properties." + k
		if !propertyRE.MatchString(k) {
			c.errorf(key, "%q: not a cluster property name (e.g. no-quorum-policy)", k)
			continue
		}
		if k == "stonith-enabled" {
			c.errorf(key, "set pacemaker.stonith_enabled instead")
			continue
		}
		v, err := scalar(p.Properties[k], "true", "false")
		if err != nil {
			c.errorf(key, "%v", err)
			continue
		}
		pc.properties = append(pc.properties, kv{k, v})
	}
	for _, k := range sortedKeys(p.Meta) {
		key := "pacemaker.meta." + k
		if !propertyRE.MatchString(k) {
			c.errorf(key, "%q: not a meta attribute name (e.g. failure-timeout)", k)
			continue
		}
		if generatedMeta[k] {
			c.errorf(key, "the generator sets %s on the clone", k)
			continue
		}
		v, err := scalar(p.Meta[k], "true", "false")
		if err != nil {
			c.errorf(key, "%v", err)
			continue
		}
		pc.meta = append(pc.meta, kv{k, v})
	}
	for _, k := range sortedKeys(p.AgentParams) {
		key := "pacemaker.agent_params." + k
		if from, ok := generatedAgentParams[k]; ok {
			c.errorf(key, "the generator sets %s from %s", k, from)
			continue
		}
		if !paramRE.MatchString(k) {
			c.errorf(key, "%q: not a parameter name", k)
			continue
		}
		v, err := scalar(p.AgentParams[k], "true", "false")
		if err != nil {
			c.errorf(key, "%v", err)
			continue
		}
		if pc.agent == DefaultAgent && !contains(agentParamsOf, k) {
			msg := fmt.Sprintf("%s has no parameter %q (it has %s)", DefaultAgent, k, strings.Join(agentParamsOf, ", "))
			if sg := suggest(k, agentParamsOf); sg != "" {
				msg = fmt.Sprintf("%s has no parameter %q (did you mean %q?)", DefaultAgent, k, sg)
			}
			c.warnf(key, "%s", msg)
		}
		pc.agentParams = append(pc.agentParams, kv{k, v})
	}
	b := s.File.Broker
	cfg := b.ConfigPath
	if cfg == "" {
		cfg = DefaultConfigPath
	}
	dataDir := b.DataDir
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	port := int64(DefaultPort)
	if b.Port != nil {
		port = *b.Port
	}
	pc.agentParams = append(pc.agentParams, kv{"config", cfg}, kv{"data_dir", dataDir}, kv{"port", itoa(port)})
	if s.tls.on {
		// The agent reaches the local broker at ssl:localhost:ssl_port with
		// the CA and certificate of the broker's configuration file.
		pc.agentParams = append(pc.agentParams, kv{"ssl", "yes"}, kv{"ssl_port", itoa(s.tls.port)})
	}
	sort.Slice(pc.agentParams, func(i, j int) bool { return pc.agentParams[i].k < pc.agentParams[j].k })
	s.pcm = pc
}

// generatedMeta are the clone's meta attributes the generator sets.
var generatedMeta = map[string]bool{
	"promotable": true, "promoted-max": true, "promoted-node-max": true,
	"clone-max": true, "clone-node-max": true, "notify": true,
	"master-max": true, "master-node-max": true,
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// reservedFenceOptions are attributes cluster.conf gives fence devices itself.
var reservedFenceOptions = map[string]bool{"name": true, "agent": true}

// generatedPcsOptions are the host options the generator derives from the
// nodes' fence lists, unless pcs_options sets them.
var generatedPcsOptions = []string{"pcmk_host_list", "pcmk_host_map", "pcmk_host_argument"}

func (c *checker) checkFence(s *Spec) {
	byName := map[string]*fenceSpec{}
	for i, f := range s.File.Fence {
		key := fmt.Sprintf("fence[%d]", i+1)
		fs := &fenceSpec{Fence: f}
		switch {
		case f.Name == "":
			c.errorf(key+".name", "missing: the device's name (cluster.conf fencedevice name, Pacemaker stonith id)")
		case !idRE.MatchString(f.Name):
			c.errorf(key+".name", "%q: starts with a letter or '_', then letters, digits, '_', '.', '-'", f.Name)
		case byName[f.Name] != nil:
			c.errorf(key+".name", "%q: duplicate fence device name", f.Name)
		default:
			byName[f.Name] = fs
		}
		if f.Agent == "" {
			c.errorf(key+".agent", "missing: the fence agent, e.g. fence_ipmilan")
		} else if !strings.HasPrefix(f.Agent, "fence_") || !paramRE.MatchString(f.Agent) {
			c.errorf(key+".agent", "%q: a fence agent's name is fence_<something>", f.Agent)
		}
		fs.options = c.params(f.Options, key+".options", "1", "0", reservedFenceOptions)
		fs.pcsOptions = c.params(f.PcsOptions, key+".pcs_options", "true", "false", nil)
		s.fences = append(s.fences, fs)
	}
	// The nodes' fence lists.
	for i, nd := range s.nodes {
		nd.fenceByDevice = map[string]*NodeFence{}
		nd.pcsDevice = map[string]string{}
		byMethod := map[string]*method{}
		for j := range s.File.Nodes[i].Fence {
			nf := &s.File.Nodes[i].Fence[j]
			key := fmt.Sprintf("%s.fence[%d]", nd.key, j+1)
			if nf.Method == "" {
				nf.Method = DefaultFenceMethod
			}
			fs := byName[nf.Device]
			switch {
			case nf.Device == "":
				c.errorf(key+".device", "missing: the name of a [[fence]] device")
				continue
			case fs == nil:
				msg := fmt.Sprintf("%q: no [[fence]] device has this name", nf.Device)
				if sg := suggest(nf.Device, sortedKeys(byName)); sg != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", sg)
				}
				c.errorf(key+".device", "%s", msg)
				continue
			case nd.fenceByDevice[nf.Device] != nil:
				c.errorf(key+".device", "%q: this node uses the device twice; one entry per device and node", nf.Device)
				continue
			}
			if strings.ContainsAny(nf.Method, "\"<>&\n\r") || strings.TrimSpace(nf.Method) == "" {
				c.errorf(key+".method", "%q: a method name without quotes, '<', '>', '&' or line breaks", nf.Method)
			}
			// Validate the node's options for this device.
			c.params(nf.Options, key+".options", "1", "0", reservedFenceOptions)
			nd.fenceByDevice[nf.Device] = nf
			m := byMethod[nf.Method]
			if m == nil {
				m = &method{name: nf.Method}
				byMethod[nf.Method] = m
				nd.methods = append(nd.methods, m)
			}
			m.devices = append(m.devices, nf)
			fs.users = append(fs.users, nd)
		}
	}
	if len(s.fences) > 0 {
		for _, nd := range s.nodes {
			if len(nd.methods) == 0 {
				c.errorf(nd.key+".fence", "node %q has no fence method; give it one, e.g. fence = [{ device = %q, options = { port = %q } }]", nd.name, s.fences[0].Name, nd.short)
			}
		}
		for i, fs := range s.fences {
			if len(fs.users) == 0 && fs.Name != "" {
				c.errorf(fmt.Sprintf("fence[%d]", i+1), "device %q is used by no node's fence list", fs.Name)
			}
		}
	}
	switch {
	case s.pcm.stonithEnabled && len(s.fences) == 0 && s.File.Pacemaker.StonithEnabled != nil:
		c.errorf("pacemaker.stonith_enabled", "true, but there is no [[fence]] device")
	case s.pcm.stonithEnabled && len(s.fences) == 0:
		c.errorf("fence", "no [[fence]] device: a cluster needs fencing (Pacemaker refuses to start resources without it); add [[fence]] devices, or, for a test cluster only, set stonith_enabled = false in [pacemaker]")
	case !s.pcm.stonithEnabled && len(s.fences) > 0:
		c.warnf("pacemaker.stonith_enabled", "false: the fence devices are created but Pacemaker will not use them")
	}
	if len(s.fences) == 0 {
		c.warnf("fence", "no fencing: cluster.conf has no fence devices, and pcs-setup.sh disables STONITH (test clusters only)")
	}
	// Pacemaker stonith ids for each node; every id must be unique.
	ids := map[string]string{
		s.pcm.resource: "pacemaker.resource",
		s.pcm.clone:    "pacemaker.clone",
		s.pcm.vip:      "pacemaker.vip_resource",
	}
	for i, fs := range s.fences {
		key := fmt.Sprintf("fence[%d].name", i+1)
		for _, id := range fs.pcsIDs() {
			if other, dup := ids[id]; dup && fs.Name != "" {
				c.errorf(key, "the Pacemaker id %q of this device is also the id of %s", id, other)
			}
			ids[id] = key
		}
		for _, nd := range fs.users {
			nd.pcsDevice[fs.Name] = fs.pcsID(nd)
		}
	}
}

// pcsID is the Pacemaker stonith id of the device for node nd.
func (fs *fenceSpec) pcsID(nd *node) string {
	if fs.split() {
		return fs.Name + "-" + nd.short
	}
	return fs.Name
}

// pcsIDs are the device's Pacemaker stonith ids.
func (fs *fenceSpec) pcsIDs() []string {
	if !fs.split() {
		return []string{fs.Name}
	}
	var ids []string
	for _, nd := range fs.users {
		ids = append(ids, fs.pcsID(nd))
	}
	return ids
}

// params checks a table of name=value parameters (fence agent options, OCF
// parameters) and returns them sorted; booleans become t or f.
func (c *checker) params(m map[string]any, key, t, f string, reserved map[string]bool) []kv {
	var out []kv
	for _, k := range sortedKeys(m) {
		kk := key + "." + k
		if !paramRE.MatchString(k) {
			c.errorf(kk, "%q: not a parameter name (letters, digits, '_', '-')", k)
			continue
		}
		if reserved[k] {
			c.errorf(kk, "%q is the device's own attribute; it cannot be an option", k)
			continue
		}
		v, err := scalar(m[k], t, f)
		if err != nil {
			c.errorf(kk, "%v", err)
			continue
		}
		if strings.ContainsAny(v, "\n\r") {
			c.errorf(kk, "a value without line breaks")
			continue
		}
		out = append(out, kv{k, v})
	}
	return out
}

// nodeOptions are the options a node gives this device (sorted).
func (fs *fenceSpec) nodeOptions(nd *node) []kv {
	nf := nd.fenceByDevice[fs.Name]
	if nf == nil {
		return nil
	}
	var out []kv
	for _, k := range sortedKeys(nf.Options) {
		v, _ := scalar(nf.Options[k], "1", "0")
		out = append(out, kv{k, v})
	}
	return out
}

// hostMapArgument is the one option every user of the device sets per node,
// when that can be a pcmk_host_map (e.g. port); "" otherwise.
func (fs *fenceSpec) hostMapArgument() string {
	arg := ""
	for _, nd := range fs.users {
		o := fs.nodeOptions(nd)
		if len(o) != 1 || (arg != "" && o[0].k != arg) || strings.ContainsAny(o[0].v, ";: ") {
			return ""
		}
		arg = o[0].k
	}
	return arg
}

// hasNodeOptions: some node gives this device options of its own.
func (fs *fenceSpec) hasNodeOptions() bool {
	for _, nd := range fs.users {
		if len(fs.nodeOptions(nd)) > 0 {
			return true
		}
	}
	return false
}

// split: Pacemaker gets one stonith device per node (the nodes' options
// cannot be expressed as a host map).
func (fs *fenceSpec) split() bool {
	return fs.hasNodeOptions() && fs.hostMapArgument() == "" && !fs.pcsSets("pcmk_host_map")
}

// pcsSets: pcs_options sets this option.
func (fs *fenceSpec) pcsSets(name string) bool {
	for _, o := range fs.pcsOptions {
		if o.k == name {
			return true
		}
	}
	return false
}
