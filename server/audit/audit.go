// Package audit writes tokenhook's audit events: one log line per event that
// matters to who may see what (sign-in, sign-out, a session's end, a refused
// rule), with the message "audit", the event in the "audit" key and the
// viewer named only by a subject hash, never by a token or an email.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
)

// Event is the value of an audit line's "audit" key.
type Event string

// The audit events.
const (
	// SignIn: a viewer signed in (a new session).
	SignIn Event = "sign_in"
	// SignOut: a viewer signed out (POST /_tokenhook/logout).
	SignOut Event = "sign_out"
	// RefreshFailed: a refresh at a provider failed (attribute "client",
	// "reason").
	RefreshFailed Event = "refresh_failed"
	// SessionEnded: a session ended without the viewer signing out: its
	// refresh token was refused (attribute "reason").
	SessionEnded Event = "session_ended"
	// SessionRevoked: an operator revoked a subject's sessions.
	SessionRevoked Event = "session_revoked"
	// BackchannelLogout: the provider's back-channel logout ended sessions.
	BackchannelLogout Event = "backchannel_logout"
	// AccessDenied: an authorization rule refused a signed-in viewer or a
	// bearer (attributes "method", "path", "source").
	AccessDenied Event = "access_denied"
)

// Message is the message of every audit line.
const Message = "audit"

// SubjectHash names a viewer in logs: the first 16 hex digits of the
// SHA-256 of the issuer, a NUL byte and the subject. It is stable for one
// viewer of one provider, and reveals neither.
func SubjectHash(issuer, subject string) string {
	sum := sha256.Sum256([]byte(issuer + "\x00" + subject))
	return hex.EncodeToString(sum[:8])
}

// Log writes audit events to a logger, for the subjects of one issuer.
// A nil *Log writes nothing.
type Log struct {
	log    *slog.Logger
	issuer string
}

// New returns a Log writing to logger (at level info) for subjects issued
// by issuer.
func New(logger *slog.Logger, issuer string) *Log {
	return &Log{log: logger, issuer: issuer}
}

// Record writes one audit line for event about subject ("" when unknown),
// with attrs. Attributes must never carry a token or an email.
func (l *Log) Record(ctx context.Context, event Event, subject string, attrs ...slog.Attr) {
	if l == nil {
		return
	}
	base := []slog.Attr{slog.String("audit", string(event))}
	if subject != "" {
		base = append(base, slog.String("subject", SubjectHash(l.issuer, subject)))
	}
	l.log.LogAttrs(ctx, slog.LevelInfo, Message, append(base, attrs...)...)
}
