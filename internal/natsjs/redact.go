package natsjs

import (
	"net/url"
	"strings"
)

// Redact returns urls, a NATS server URL or a comma-separated list of them,
// as log lines, errors and the debug listener may show it: in each URL a
// password is replaced by "xxxxx", and so is a user without a password,
// which NATS reads as a token. A part that does not parse as a URL is cut
// to its scheme, so a secret in it cannot show either.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, part := range parts {
		u, err := url.Parse(strings.TrimSpace(part))
		switch {
		case err != nil:
			scheme, _, _ := strings.Cut(strings.TrimSpace(part), "://")
			parts[i] = scheme + "://(unparsable URL)"
		case u.User == nil:
		default:
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			} else {
				u.User = url.User("xxxxx")
			}
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
