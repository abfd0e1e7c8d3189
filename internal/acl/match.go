package acl

import (
	"strconv"
	"strings"
)

// The user name substitution keywords (AclData.cpp).
const (
	keywordUser       = "${user}"
	keywordDomain     = "${domain}"
	keywordUserDomain = "${userdomain}"
)

func hasKeyword(s string) bool {
	return strings.Contains(s, keywordUser) || strings.Contains(s, keywordDomain) ||
		strings.Contains(s, keywordUserDomain)
}

// normalizeUserID turns "@" and "." into "_" (AclData::normalizeUserId).
func normalizeUserID(s string) string {
	return strings.NewReplacer("@", "_", ".", "_").Replace(s)
}

// splitUser returns the normalized user, domain and user-domain of an
// authenticated identity: bob.user@QPID.COM gives bob_user, QPID_COM and
// bob_user_QPID_COM; a name without "@" has an empty domain.
func splitUser(id string) (user, domain, userdomain string) {
	userdomain = normalizeUserID(id)
	if i := strings.IndexByte(id, '@'); i >= 0 {
		return normalizeUserID(id[:i]), normalizeUserID(id[i+1:]), userdomain
	}
	return userdomain, "", userdomain
}

// substituteUser expands the keywords of a rule value for the user
// (AclData::substituteUserId).
func substituteUser(rule, id string) string {
	user, domain, userdomain := splitUser(id)
	rule = strings.ReplaceAll(rule, keywordUser, user)
	rule = strings.ReplaceAll(rule, keywordDomain, domain)
	return strings.ReplaceAll(rule, keywordUserDomain, userdomain)
}

// substituteKeywords is the reverse substitution qpidd applies to a routing
// key before matching it with a rule's routingkey pattern that holds
// keywords (AclData::substituteKeywords): the user's normalized
// user-domain, then user, then domain are replaced by their keywords. This
// is why the documentation warns that ${user}_${domain} never matches in a
// routing key (it has become ${userdomain}). Kept as qpidd does it so that a
// file decides the same here as there.
func substituteKeywords(key, id string) string {
	user, domain, userdomain := splitUser(id)
	if userdomain != "" {
		key = strings.ReplaceAll(key, userdomain, keywordUserDomain)
	}
	if user != "" {
		key = strings.ReplaceAll(key, user, keywordUser)
	}
	if domain != "" {
		key = strings.ReplaceAll(key, domain, keywordDomain)
	}
	return key
}

// matchName compares a rule value with a lookup value: a single trailing
// "*" makes the rule a prefix (so "*" alone matches anything, even "");
// otherwise the two must be equal (AclData::matchProp). A "*" anywhere else
// is an ordinary character.
func matchName(rule, value string) bool {
	if prefix, ok := strings.CutSuffix(rule, "*"); ok {
		return strings.HasPrefix(value, prefix)
	}
	return rule == value
}

// topicMatch matches a routing key with a topic pattern as qpidd's topic
// exchange does: words are separated by ".", "*" is exactly one word
// (possibly empty: "*.x" matches ".x"), "#" zero or more words. The key ""
// is one empty word. Dynamic programming keeps it linear in the product of
// the word counts whatever the pattern.
func topicMatch(pattern []string, key string) bool {
	words := strings.Split(key, ".")
	// cur[j]: pattern[:i] matches words[:j].
	cur := make([]bool, len(words)+1)
	next := make([]bool, len(words)+1)
	cur[0] = true
	for _, p := range pattern {
		switch p {
		case "#":
			seen := false
			for j := range cur {
				seen = seen || cur[j]
				next[j] = seen
			}
		case "*":
			next[0] = false
			for j := 1; j <= len(words); j++ {
				next[j] = cur[j-1]
			}
		default:
			next[0] = false
			for j := 1; j <= len(words); j++ {
				next[j] = cur[j-1] && words[j-1] == p
			}
		}
		cur, next = next, cur
	}
	return cur[len(words)]
}

// compareLimit is AclData::compareInt: a zero limit always passes, a lookup
// value that is not an unsigned integer fails, otherwise the value must not
// exceed (upper) or fall short of (lower) the limit.
func compareLimit(limit, value string, upper bool) bool {
	l, err := strconv.ParseUint(limit, 10, 64)
	if err != nil {
		return false // rejected at parse time; not reached
	}
	if l == 0 {
		return true
	}
	v, err := strconv.ParseUint(value, 10, 64)
	if err != nil {
		return false
	}
	if upper {
		return v <= l
	}
	return v >= l
}
