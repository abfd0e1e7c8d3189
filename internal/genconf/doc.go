// Package genconf is qpid-cluster-conf, the generator of a qpidd HA
// cluster's configuration: from one TOML description of the cluster it
// renders
//
//   - cluster.conf for cman and rgmanager, in the layout of the Qpid C++
//     1.36 HA manual (section 1.12.5): a restricted failover domain and a
//     qpidd service (recovery restart) per node, one relocatable
//     qpidd-primary-service with the primary script and the VIP, fencing
//     (fencedevices and each node's fence methods), rm status_poll_interval;
//   - pcs-setup.sh for Pacemaker: cluster properties, stonith devices, a
//     promotable clone of ocf:qpid:qpidd (notify=false, promoted-max=1,
//     clone-max = the number of nodes, clone-node-max=1, a monitor per role
//     with its own interval), an IPaddr2 VIP colocated (INFINITY) with the
//     Promoted role, started after promote and stopped before demote
//     (symmetrical=false, kind=Mandatory). It changes a copy of the CIB and
//     pushes the difference in one step, or changes a CIB file given as its
//     argument; elements that exist (by id) are left alone, so it may run
//     again;
//   - qpidd-<node>.conf for each node: ha-cluster=yes, ha-brokers-url with
//     every node's address and the port (ssl: addresses and the TLS port
//     with TLS), ha-public-url the VIP, and the
//     [broker] settings, each checked the way qpidd reads its configuration
//     file (package config).
//
// Output is deterministic: tables are rendered sorted by key, arrays in
// their order.
//
// # The description (TOML)
//
// Unknown keys and tables are errors, as are values of the wrong type. Every
// problem is reported as "FILE[:LINE]: KEY: problem", with the nearest known
// name when there is one. Optional keys show their default.
//
//	[cluster]
//	name            required; cman's cluster name, at most 15 of [A-Za-z0-9_-]
//	config_version  cluster.conf config_version, default 1
//	transport       cman transport: udp | udpb | udpu | rdma (cluster.conf only)
//	totem_token     corosync token timeout, ms; opt-in, for the pcs cluster setup hint
//	totem_consensus corosync consensus timeout, ms, >= 1.2 x totem_token; opt-in
//
//	[[node]]        at least 2; in nodeid order
//	name            required; the cluster node name (uname -n), unique
//	address         required; the broker-to-broker address (ha-brokers-url), unique
//	client_address  the node's address on the clients' network (VIP subnet check)
//	nodeid          default the node's position, 1, 2, ...; unique
//	options         table of qpidd options for this node only (replace [broker.options])
//	fence           array of { method = "1", device = NAME, options = {...} }: the
//	                node's fence methods in order, each entry one device of a method,
//	                with the node's own options for it (port, plug, ip...)
//
//	[vip]
//	address         required; the clients' virtual IP address (IPv4 or IPv6)
//	cidr_netmask    prefix length for IPaddr2 (and the subnet check)
//	nic             IPaddr2 nic / rgmanager prefer_interface
//	monitor_link    rgmanager ip monitor_link, default true
//	sleeptime       rgmanager ip sleeptime in seconds, default 10
//
//	[broker]
//	config_path     where each node's qpidd.conf goes, default /etc/qpid/qpidd.conf
//	port            default 5672
//	data_dir        default /var/lib/qpidd
//	ha_replicate    none | configuration | all, default all
//	ha_username, ha_password, ha_mechanism
//	link_maintenance_interval, link_heartbeat_interval, ha_backup_timeout
//	                qpidd SECONDS: a number (0.1, 5) or a string ("100ms", "10s")
//	auth            default true
//	acl_file
//	ssl_cert_file, ssl_key_file
//	                absolute paths of the node's own PEM certificate and key (the
//	                same paths on every node); setting them turns TLS on:
//	                ha-brokers-url ssl:NODE:SSL_PORT, ha-public-url ssl:VIP:SSL_PORT,
//	                the agent's ssl=yes and ssl_port
//	ssl_ca_file     absolute path of the CA of peers' and clients' certificates
//	ssl_port        default 5671
//	ssl_only        listen-disable=tcp and require-encryption=yes, default false
//	ssl_require_client_authentication  default false (needs ssl_ca_file)
//	options         table name = value of any other qpidd option (qpidd's
//	                names); an array value repeats the option
//
//	[pacemaker]
//	resource        default qpidd; clone default <resource>-clone
//	agent           default ocf:qpid:qpidd; vip_resource default qpidd-vip
//	monitor_promoted_interval 10s, monitor_unpromoted_interval 11s (must differ),
//	monitor_timeout 30s, start_timeout 60s, stop_timeout 60s,
//	promote_timeout 60s, demote_timeout 90s, notify_timeout 20s,
//	vip_monitor_interval 10s, vip_monitor_timeout (IPaddr2's default):
//	                Pacemaker durations, "10s", "500ms", "2min", or whole seconds
//	stonith_enabled default true; without [[fence]] it must be false, explicitly
//	properties      table of more cluster properties
//	meta            table of meta attributes of the resource
//	agent_params    table of more agent parameters (config, data_dir and port
//	                come from [broker])
//
//	[rgmanager]
//	status_poll_interval  default 10
//	qpidd_script    default /etc/init.d/qpidd
//	primary_script  default /etc/init.d/qpidd-primary
//
//	[[fence]]       fence devices
//	name            required; fencedevice name and stonith id
//	agent           required; fence_<something>
//	options         table of the agent's parameters (cluster.conf and pcs)
//	pcs_options     table of Pacemaker-only options (pcmk_delay_max, ...)
//
// # Fencing in Pacemaker
//
// A device whose nodes give it no options of their own becomes one stonith
// device with pcmk_host_list; if every node gives it the same single option
// (e.g. plug), one device with pcmk_host_argument and pcmk_host_map; if
// the nodes give it other options, one device per node, named
// <device>-<node>, with pcmk_host_list the node. Nodes with more than one
// method get fencing levels in method order. pcs_options may set
// pcmk_host_list, pcmk_host_map or pcmk_host_argument itself.
//
// # Checks
//
// Besides types and unknown keys: names and ids (host names, Pacemaker ids,
// XML IDs), duplicates (node names, addresses, nodeids, ids, fence devices),
// every qpidd option name and value (through package config: a typo is an
// error with the nearest option name; obsolete options warn), options the
// generator sets itself are refused in the free-form tables, values qpidd.conf
// cannot hold ('#', line breaks, surrounding spaces), fencing (a device
// named by a node must exist, every node needs a method when there are
// devices, every device a user, no devices and stonith_enabled unset is an
// error), monitor intervals, and the manual's advice as warnings (no HA
// credentials with auth on, ANONYMOUS, link_heartbeat_interval unset, the VIP
// in no node's subnet), TLS (a certificate without a key or the reverse, TLS
// keys without a certificate, relative paths, EXTERNAL without TLS or a CA;
// warnings: the subjectAltNames and key usages each certificate needs, plain
// TCP left open with auth).
package genconf
