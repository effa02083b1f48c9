package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// The note the documentation pages put before the API's description, by
// whether access control is on, and the one on what they leave out.
const (
	docsAccessOff = "**This server has access control off**: no operation needs a key (none shows a lock). " +
		"With API keys configured, the operations that need one say so.\n\n"
	docsAccessOn = "**This server has access control on**: an operation that needs an API key says so (a lock on `/docs`, " +
		"*Authorizations* on `/redoc`) and names the roles allowed on it; send the key as `Authorization: Bearer KEY` " +
		"or `X-API-Key: KEY`. The other operations are open.\n\n"
	docsLeftOut = "This page leaves out the `HEAD` operations (every `GET` route answers `HEAD` as well) and the " +
		"CORS preflights (`OPTIONS`); [the full OpenAPI document](/openapi.json) describes them.\n\n"
)

// uiDocument returns the OpenAPI document doc as /docs and /redoc show it:
// without its HEAD and OPTIONS operations, with a note on top of its
// description saying whether access control is on and what the page
// leaves out, and with security requirements only where they hold: none
// (and no security schemes) when access control is off; when it is on, a
// key required (no anonymous alternative) on the operations that name
// roles, as the server enforces. Key order is kept, so the pages list
// paths and fields as the document does. It fails on a document that is
// not a JSON object with info, paths and components objects.
func uiDocument(doc []byte, accessControl bool) ([]byte, error) {
	top, err := objectMembers(doc)
	if err != nil {
		return nil, err
	}
	edits := map[string]func(json.RawMessage) (json.RawMessage, error){
		"info": func(info json.RawMessage) (json.RawMessage, error) {
			note := docsAccessOff
			if accessControl {
				note = docsAccessOn
			}
			return editMember(info, "description", func(d json.RawMessage) (json.RawMessage, error) {
				var text string
				if err := json.Unmarshal(d, &text); err != nil {
					return nil, err
				}
				return json.Marshal(note + docsLeftOut + text)
			})
		},
		"paths": func(paths json.RawMessage) (json.RawMessage, error) {
			return mapMembers(paths, func(_ string, item json.RawMessage) (json.RawMessage, error) {
				return mapMembers(item, func(method string, op json.RawMessage) (json.RawMessage, error) {
					switch method {
					case "head", "options":
						return nil, nil
					case "get", "put", "post", "delete", "patch", "trace":
						return operationSecurity(op, accessControl)
					}
					return op, nil
				})
			})
		},
		"components": func(components json.RawMessage) (json.RawMessage, error) {
			if accessControl {
				return components, nil
			}
			return mapMembers(components, func(name string, v json.RawMessage) (json.RawMessage, error) {
				if name == "securitySchemes" {
					return nil, nil
				}
				return v, nil
			})
		},
	}
	for i, m := range top {
		if edit, ok := edits[m.key]; ok {
			if top[i].value, err = edit(m.value); err != nil {
				return nil, fmt.Errorf("openapi.json %s: %w", m.key, err)
			}
			delete(edits, m.key)
		}
	}
	if len(edits) > 0 {
		return nil, errors.New("openapi.json lacks info, paths or components")
	}
	return encodeObject(top), nil
}

// operationSecurity returns op without its security requirements when
// access control is off, and with a key required instead of optional when
// it is on and op has any.
func operationSecurity(op json.RawMessage, accessControl bool) (json.RawMessage, error) {
	return mapMembers(op, func(name string, v json.RawMessage) (json.RawMessage, error) {
		if name != "security" {
			return v, nil
		}
		if !accessControl {
			return nil, nil
		}
		var alternatives []map[string]json.RawMessage
		if err := json.Unmarshal(v, &alternatives); err != nil {
			return nil, err
		}
		var required []map[string]json.RawMessage
		for _, a := range alternatives {
			if len(a) > 0 {
				required = append(required, a)
			}
		}
		return json.Marshal(required)
	})
}

// member is one member of a JSON object, its value as written.
type member struct {
	key   string
	value json.RawMessage
}

// objectMembers returns the members of the JSON object raw, in order.
func objectMembers(raw json.RawMessage) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object: %.40s", raw)
	}
	var members []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var m member
		m.key, _ = tok.(string)
		if err := dec.Decode(&m.value); err != nil {
			return nil, err
		}
		members = append(members, m)
	}
	return members, nil
}

// encodeObject writes members as a JSON object, in order.
func encodeObject(members []member) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(m.key)
		b.Write(key)
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// mapMembers returns the JSON object raw with each member's value replaced
// by what f returns for it, in order; a nil value drops the member.
func mapMembers(raw json.RawMessage, f func(key string, value json.RawMessage) (json.RawMessage, error)) (json.RawMessage, error) {
	members, err := objectMembers(raw)
	if err != nil {
		return nil, err
	}
	kept := members[:0]
	for _, m := range members {
		v, err := f(m.key, m.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.key, err)
		}
		if v != nil {
			kept = append(kept, member{m.key, v})
		}
	}
	return encodeObject(kept), nil
}

// editMember returns the JSON object raw with the value of its member key
// replaced by what f returns for it.
func editMember(raw json.RawMessage, key string, f func(json.RawMessage) (json.RawMessage, error)) (json.RawMessage, error) {
	found := false
	edited, err := mapMembers(raw, func(k string, v json.RawMessage) (json.RawMessage, error) {
		if k != key {
			return v, nil
		}
		found = true
		return f(v)
	})
	if err == nil && !found {
		err = fmt.Errorf("no member %q", key)
	}
	return edited, err
}
