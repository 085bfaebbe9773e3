package master

// Notify configures the notifiers: webhooks and email sent when a group
// ends (and when a job finally fails). Not built yet.
type Notify struct{}
