// Package acl reads the broker's ACL file (the acl-file option) in the
// syntax of the Qpid C++ broker and decides requests the way qpidd does
// (src/qpid/acl/AclReader.cpp, AclData.cpp, AclValidator.cpp, AclLexer.cpp;
// the "Access Control List (ACL)" section of the C++ broker book).
//
// # Syntax
//
// One statement per line; tokens are separated by white space and are case
// sensitive; lines are at most 1023 characters.
//
//	# comment: '#' in the first column only (a '#' elsewhere is a routing
//	# key wildcard, so there are no trailing comments)
//	group admins alice@QPID bob@QPID \
//	      carol@QPID
//	group ops admins dave@QPID
//	acl allow|allow-log|deny|deny-log <user|group|all> <action|all> [<object|all> [<property>=<value> ...]]
//	quota connections|queues <0..65530> <user|group|all> ...
//
// Groups: a group name is letters, digits, '-' and '_'. Members are users
// written name@realm (letters, digits, '-', '_', '@', '.', '/'; the realm
// is required) or groups defined on earlier lines, whose members are copied
// in (naming the group itself is ignored). A group line may continue on the
// next lines with a trailing '\', after at least the group name; comment and
// blank lines in between are skipped. No other line may be continued.
//
// Rules: the user position is "all", a group defined earlier, or else taken
// as one user name as written (qpidd does not check it: "anonymous" and
// "bob@QPID" alike). Actions: access bind consume create delete move
// publish purge redirect reroute unbind update, or all. Objects: broker
// connection exchange link method query queue, or all; a rule without an
// object covers all objects. With user all and action all nothing may follow.
// Properties: name durable owner routingkey autodelete exclusive type
// alternate queuename exchangename schemapackage schemaclass policytype
// paging host, and the numeric limits queuemaxsize{lower,upper}limit,
// queuemaxcount{lower,upper}limit, filemaxsize{lower,upper}limit,
// filemaxcount{lower,upper}limit, pages{lower,upper}limit,
// pagefactor{lower,upper}limit (maxqueuesize and maxqueuecount are the old
// names of the queue upper limits). policytype must be ring, self-destruct
// or reject; limits integers from 0.
//
// # Deciding
//
// Allowed tries, in file order, the rules that apply to the user (named,
// through a group, or "all") and cover the action and object, and the first
// whose properties all match decides. A rule property matches when the
// lookup has that property and:
//
//   - name, alternate, queuename and the other strings: equal, or, when the
//     rule value ends with '*', the lookup value starts with what precedes
//     it ("tmp.*", "*"); a '*' anywhere else is an ordinary character;
//   - routingkey: topic-exchange matching, words separated by '.', '*' one
//     word, '#' zero or more words (a.#.b matches a.b and a.x.y.b);
//   - ${user}, ${domain} and ${userdomain} in name, alternate, queuename and
//     routingkey values stand for the requesting user's name, realm and
//     both, with '@' and '.' turned into '_' (bob.user@QPID.COM: bob_user,
//     QPID_COM, bob_user_QPID_COM); routing keys are matched the way qpidd
//     does it, by turning the user's strings in the key back into keywords;
//   - in publish rules name=amq.default matches the default exchange (the
//     lookup name ""); a published routing key holding a keyword never
//     matches;
//   - a numeric limit needs the lookup's value (queuemaxsizeupperlimit
//     needs PropMaxQueueSize, ...); a value beyond the limit (0 means no
//     limit) still lets the rule match but turns its allow into deny
//     (Rule.LimitExceeded), exactly as qpidd.
//
// Rules qpidd ignores are ignored here too, with a warning: for an action
// and object that qpidd's broker checks, a rule whose properties (other
// than name) are not all among those of one of its checks (see
// LookupProperties) never matches; "all" expands only to the pairs where
// the rule can match. Rules for pairs qpidd never checks (delete broker,
// say) are kept, with a warning, so that a broker checking more than qpidd
// did still obeys them, and "acl allow admin all all" covers those checks.
//
// # The default
//
// Following qpidd's AclReader, the last "acl <permission> all all" line is
// set apart as the default: it decides whatever no other rule matches. The
// book says it must be the last line; qpidd does not enforce that and
// neither does this package (a warning says so). Without such a line the
// default is deny (AclData's initial decision mode: "deny mode is the
// default"). An earlier "acl allow all all" is an ordinary rule that
// matches everything. Without an ACL file at all (a nil *ACL) everything
// is allowed, as qpidd without the ACL module.
//
// Connections are decided apart (AllowedConnection) by the
// "create connection host=..." rules: host is "all", an IP address or a
// "low,high" range; the default there is allow unless a rule for all users
// and host=all says otherwise.
//
// # Differences from qpidd
//
// Stricter where qpidd silently misread a file: a group named in a rule or
// a quota before the group's definition is an error (qpidd took it as a
// user name, so the rule never applied to the group's members); text after
// a '\' is an error (qpidd dropped it, as the book forbids); a '\' on an acl
// or quota line is an error (qpidd turned the next line into group
// members); a user name containing '*' is an error (qpidd has no user
// wildcards; such a name matched nobody); "all" cannot be a group name;
// property values are checked on every rule (qpidd checked only the rules
// it kept). Host ranges must be numeric IP addresses: host names are not
// resolved.
package acl
