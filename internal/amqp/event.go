package amqp

// EventType says what changed on the remote side of an endpoint.
type EventType uint8

const (
	// EventConnectionOpen: the peer opened the connection. A server answers
	// with Connection.Open (or Close).
	EventConnectionOpen EventType = iota + 1
	// EventConnectionClose: the peer closed the connection; answer with Close.
	EventConnectionClose
	// EventSessionBegin: the peer began a session (or answered our begin).
	// Answer a new session with Session.Begin.
	EventSessionBegin
	// EventSessionEnd: the peer ended the session, or the connection ended it.
	EventSessionEnd
	// EventLinkAttach: the peer attached a link (or answered our attach).
	// Answer a new link with Link.Attach, then possibly Detach with an error.
	EventLinkAttach
	// EventLinkDetach: the peer detached the link, or the link's session or
	// connection went away. Every attached link gets exactly one.
	EventLinkDetach
	// EventLinkFlow: the peer's flow changed a link's credit or drain flag.
	EventLinkFlow
	// EventDelivery: a whole message arrived on a receiving link.
	EventDelivery
	// EventDisposition: the peer changed the state or settled a delivery.
	EventDisposition
	// EventTransportClosed: the engine is done: no more events follow.
	EventTransportClosed
)

var eventNames = [...]string{
	EventConnectionOpen:  "connection-open",
	EventConnectionClose: "connection-close",
	EventSessionBegin:    "session-begin",
	EventSessionEnd:      "session-end",
	EventLinkAttach:      "link-attach",
	EventLinkDetach:      "link-detach",
	EventLinkFlow:        "link-flow",
	EventDelivery:        "delivery",
	EventDisposition:     "disposition",
	EventTransportClosed: "transport-closed",
}

func (t EventType) String() string {
	if int(t) < len(eventNames) && eventNames[t] != "" {
		return eventNames[t]
	}
	return "event(?)"
}

// Event is one change for the application to handle.
type Event struct {
	Type     EventType
	Session  *Session
	Link     *Link
	Delivery *Delivery
}
