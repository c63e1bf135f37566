package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"slices"
	"strings"
	texttemplate "text/template"
)

// The templates ship inside the binary: a deployment cannot lose them, and a template
// that does not parse fails the service at start, not at the first email.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

// Names lists the templates the service has. A request for any other name is dead on
// arrival; the list is also what keeps metric labels bounded.
func Names() []string {
	return []string{TemplateLoginCode, TemplateDeleteCode, TemplateEmailChangeCode, TemplateEmailChanged}
}

// Known reports whether name is one of the service's templates.
func Known(name string) bool { return slices.Contains(Names(), name) }

// Templates renders requests into messages. Each template has a text file defining
// "subject" and "text" (text/template: plain text must not be HTML-escaped) and an HTML
// file defining the parts of the shared HTML layout (html/template: contextual escaping,
// because the username is user-chosen).
type Templates struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// NewTemplates parses every template.
func NewTemplates() (*Templates, error) {
	t := &Templates{
		text: map[string]*texttemplate.Template{},
		html: map[string]*htmltemplate.Template{},
	}
	for _, n := range Names() {
		tt, err := texttemplate.New(n).Option("missingkey=error").ParseFS(templateFS, "templates/"+n+".txt.tmpl")
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", n, err)
		}
		ht, err := htmltemplate.New(n).Option("missingkey=error").ParseFS(templateFS, "templates/layout.html.tmpl", "templates/"+n+".html.tmpl")
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", n, err)
		}
		t.text[n], t.html[n] = tt, ht
	}
	return t, nil
}

// Render turns a request into a message. ErrUnknownTemplate for a name the service does
// not have; ErrInvalidRequest when the request does not validate.
func (t *Templates) Render(r Request) (Message, error) {
	if err := r.Validate(); err != nil {
		return Message{}, err
	}
	tt, ok := t.text[r.Template]
	if !ok {
		return Message{}, fmt.Errorf("%w: %q", ErrUnknownTemplate, r.Template)
	}
	ht := t.html[r.Template]
	var subject, text, html bytes.Buffer
	if err := tt.ExecuteTemplate(&subject, "subject", r.Params); err != nil {
		return Message{}, fmt.Errorf("render %s subject: %w", r.Template, err)
	}
	if err := tt.ExecuteTemplate(&text, "text", r.Params); err != nil {
		return Message{}, fmt.Errorf("render %s text: %w", r.Template, err)
	}
	if err := ht.ExecuteTemplate(&html, "layout", r.Params); err != nil {
		return Message{}, fmt.Errorf("render %s html: %w", r.Template, err)
	}
	return Message{
		ID:      r.ID,
		To:      r.To,
		Subject: strings.TrimSpace(subject.String()),
		Text:    text.String(),
		HTML:    html.String(),
	}, nil
}
