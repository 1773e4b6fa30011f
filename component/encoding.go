package component

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/chatstore/chatstore"
)

// JSON and YAML forms of the component dictionaries. Pipeline files are
// usually YAML; both decode to the same map[string]any and go through
// LoadWriter and LoadRetriever.

// WriterFromJSON loads a Writer from its JSON component dictionary.
func WriterFromJSON(ctx context.Context, data []byte) (*Writer, error) {
	m, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	return LoadWriter(ctx, m)
}

// WriterFromYAML loads a Writer from its YAML component dictionary.
func WriterFromYAML(ctx context.Context, data []byte) (*Writer, error) {
	m, err := decodeYAML(data)
	if err != nil {
		return nil, err
	}
	return LoadWriter(ctx, m)
}

// RetrieverFromJSON loads a Retriever from its JSON component dictionary.
func RetrieverFromJSON(ctx context.Context, data []byte) (*Retriever, error) {
	m, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	return LoadRetriever(ctx, m)
}

// RetrieverFromYAML loads a Retriever from its YAML component dictionary.
func RetrieverFromYAML(ctx context.Context, data []byte) (*Retriever, error) {
	m, err := decodeYAML(data)
	if err != nil {
		return nil, err
	}
	return LoadRetriever(ctx, m)
}

// MarshalJSON encodes the writer's component dictionary.
func (w *Writer) MarshalJSON() ([]byte, error) { return marshalJSON(w.Dict()) }

// MarshalYAML returns the writer's component dictionary for a YAML encoder.
func (w *Writer) MarshalYAML() (any, error) { return w.Dict() }

// MarshalJSON encodes the retriever's component dictionary.
func (r *Retriever) MarshalJSON() ([]byte, error) { return marshalJSON(r.Dict()) }

// MarshalYAML returns the retriever's component dictionary for a YAML
// encoder.
func (r *Retriever) MarshalYAML() (any, error) { return r.Dict() }

func marshalJSON(m map[string]any, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

func decodeJSON(data []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("component: %w: %v", chatstore.ErrDeserialization, err)
	}
	if m == nil {
		return nil, fmt.Errorf("component: %w: the component dictionary is null", chatstore.ErrDeserialization)
	}
	return m, nil
}

func decodeYAML(data []byte) (map[string]any, error) {
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("component: %w: %v", chatstore.ErrDeserialization, err)
	}
	if m == nil {
		return nil, fmt.Errorf("component: %w: the component dictionary is empty", chatstore.ErrDeserialization)
	}
	return m, nil
}
