package stack

import (
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// newWebInbox serves the inbox to people and scripts:
//
//	GET /                          the messages, newest first (?to= filters)
//	GET /api/messages?to=          the same as JSON
//	GET /api/messages/latest?to=   the newest message as JSON; 404 when there is none
func newWebInbox(in *Inbox, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		to := r.URL.Query().Get("to")
		data := struct {
			To       string
			Messages []Message
		}{To: to, Messages: newestFirst(in, to)}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := inboxPage.Execute(w, data); err != nil {
			log.Warn("render web inbox", "err", err)
		}
	})
	mux.HandleFunc("GET /api/messages", func(w http.ResponseWriter, r *http.Request) {
		msgs := newestFirst(in, r.URL.Query().Get("to"))
		if msgs == nil {
			msgs = []Message{} // [] rather than null: a list endpoint answers a list
		}
		writeJSON(w, http.StatusOK, msgs)
	})
	mux.HandleFunc("GET /api/messages/latest", func(w http.ResponseWriter, r *http.Request) {
		m, ok := in.Latest(r.URL.Query().Get("to"))
		if !ok {
			writeJSON(w, http.StatusNotFound, errorBody{Error: errorDetail{Code: "not_found", Message: "no message to that address"}})
			return
		}
		writeJSON(w, http.StatusOK, m)
	})
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
	}
}

func newestFirst(in *Inbox, to string) []Message {
	var out []Message
	for _, m := range slices.Backward(in.Messages()) {
		if m.addressedTo(to) {
			out = append(out, m)
		}
	}
	return out
}

// errorBody has the shape of the product's JSON error envelope, so a script reading
// both the services and the inbox handles one kind of error.
type errorBody struct {
	Success bool        `json:"success"`
	Error   errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// inboxPage shows every message with its code up front. The HTML body is shown as
// escaped source, never rendered: mail is untrusted input, even here.
var inboxPage = template.Must(template.New("inbox").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>instant inbox</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 60rem; }
.msg { border: 1px solid #ddd; border-radius: 6px; padding: .75rem 1rem; margin: .75rem 0; }
.meta { color: #555; font-size: .9rem; }
.code { font: bold 1.6rem ui-monospace, monospace; letter-spacing: .2rem; }
pre { white-space: pre-wrap; background: #f7f7f7; padding: .5rem; }
</style>
</head>
<body>
<h1>instant inbox</h1>
<p class="meta">Mail the services sent through the local SMTP sink, newest first. This page refreshes every 5 seconds.
{{if .To}} Showing mail to <b>{{.To}}</b> — <a href="/">show all</a>.{{end}}
JSON: <a href="/api/messages">/api/messages</a>, <code>/api/messages/latest?to=</code></p>
{{range .Messages}}
<div class="msg">
<div><b>{{.Subject}}</b></div>
<div class="meta">to {{range $i, $a := .EnvelopeTo}}{{if $i}}, {{end}}<a href="/?to={{$a}}">{{$a}}</a>{{end}} · from {{or .From .EnvelopeFrom}} · {{.ReceivedAt.Format "2006-01-02 15:04:05"}}</div>
{{if .Code}}<div class="code">{{.Code}}</div>{{end}}
{{if .Text}}<pre>{{.Text}}</pre>{{else if .HTML}}<details><summary>HTML body</summary><pre>{{.HTML}}</pre></details>{{end}}
</div>
{{else}}
<p>No mail yet.</p>
{{end}}
</body>
</html>
`))
