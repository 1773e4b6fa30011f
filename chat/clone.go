package chat

// Clone returns a deep copy of m that shares no slice or map with it, so a
// store can keep a message without its caller being able to change it, and
// hand one out without the caller changing what it keeps.
//
// Maps and slices of the JSON shapes (map[string]any, []any) are copied at
// every depth. Values of other Go types placed in meta, arguments or extra
// are copied as Go copies them (a pointer is shared); messages decoded from
// JSON never hold such values.
func (m Message) Clone() Message {
	if m.Name != nil {
		name := *m.Name
		m.Name = &name
	}
	m.Meta = cloneMap(m.Meta)
	m.Content = cloneParts(m.Content)
	return m
}

func cloneParts(parts []Part) []Part {
	if parts == nil {
		return nil
	}
	out := make([]Part, len(parts))
	for i, p := range parts {
		out[i] = clonePart(p)
	}
	return out
}

func clonePart(p Part) Part {
	switch p := p.(type) {
	case ToolCall:
		return p.clone()
	case ToolCallResult:
		p.Origin = p.Origin.clone()
		p.Parts = cloneParts(p.Parts)
		return p
	case Reasoning:
		p.Extra = cloneMap(p.Extra)
		return p
	case Image:
		p.Meta = cloneMap(p.Meta)
		return p
	case File:
		p.Extra = cloneMap(p.Extra)
		return p
	}
	return p // Text and unknown parts hold no references.
}

func (c ToolCall) clone() ToolCall {
	if c.ID != nil {
		id := *c.ID
		c.ID = &id
	}
	c.Arguments = cloneMap(c.Arguments)
	c.Extra = cloneMap(c.Extra)
	return c
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneMap(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}
