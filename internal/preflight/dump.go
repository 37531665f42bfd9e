package preflight

import (
	"context"
	"fmt"
	"sort"

	"github.com/kong/go-database-reconciler/pkg/dump"
	"github.com/kong/go-database-reconciler/pkg/file"
	"github.com/kong/go-database-reconciler/pkg/utils"
	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kong"
)

// dumpX reads X's entities as backup.Dump does (decK's dump.Get over the
// Admin API, per workspace) and lays out, per workspace, the part of
// decK's file that the rules index: services with their routes and
// plugins, service-less routes, consumers with their plugins, plugins with
// no or several scopes (scopes named as decK names them), upstreams with
// their targets, certificates with their SNIs, CA certificates and
// _format_version. It skips decK's state building and the file writer
// (most of a preflight's CPU on a large X); the layout follows
// file.KongStateToContent (go-database-reconciler pkg/file/writer.go), and
// TestDumpXMatchesDecK holds it to decK's own.
func dumpX(ctx context.Context, c *kong.Client) (map[string]*file.Content, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	workspaces := []string{""}
	if info.Workspaces {
		ws, err := c.GoKong().Workspaces.ListAll(ctx)
		if err != nil {
			return nil, fmt.Errorf("decK dump: list workspaces: %w", err)
		}
		workspaces = workspaces[:0]
		for _, w := range ws {
			if w.Name != nil {
				workspaces = append(workspaces, *w.Name)
			}
		}
	}
	format := "1.1"
	if info.Version.AtLeast(3, 0, 0) {
		format = "3.0"
	}
	out := map[string]*file.Content{}
	for _, ws := range workspaces {
		gk := c.GoKong()
		if ws != "" {
			// A client per workspace: SetWorkspace mutates the client.
			gk, err = gokong.NewClient(gokong.String(c.AdminURL()), c.HTTPClient())
			if err != nil {
				return nil, fmt.Errorf("decK dump: workspace %q client: %w", ws, err)
			}
			gk.SetWorkspace(ws)
		}
		raw, err := dump.Get(ctx, gk, dump.Config{})
		if err != nil {
			return nil, fmt.Errorf("decK dump %s: %w", wsLabel(ws), err)
		}
		content, err := layout(raw)
		if err != nil {
			return nil, fmt.Errorf("decK dump %s: %w", wsLabel(ws), err)
		}
		content.FormatVersion, content.Workspace = format, ws
		out[ws] = content
	}
	return out, nil
}

func wsLabel(ws string) string {
	if ws == "" {
		return "(no workspace)"
	}
	return "workspace " + ws
}

// layout nests raw's entities as decK's file writer does.
func layout(raw *utils.KongRawState) (*file.Content, error) {
	svcName := map[string]string{}
	for _, s := range raw.Services {
		svcName[*s.ID] = nameOr(s.Name, *s.ID)
	}
	routeName := map[string]string{}
	for _, r := range raw.Routes {
		routeName[*r.ID] = nameOr(r.Name, *r.ID)
	}
	consumerName := map[string]string{}
	for _, c := range raw.Consumers {
		consumerName[*c.ID] = nameOr(c.Username, *c.ID)
	}
	groupName := map[string]string{}
	for _, g := range raw.ConsumerGroups {
		if g.ConsumerGroup != nil && g.ConsumerGroup.ID != nil {
			groupName[*g.ConsumerGroup.ID] = nameOr(g.ConsumerGroup.Name, *g.ConsumerGroup.ID)
		}
	}

	// Plugins by the one entity they are scoped to; the others top level.
	bySvc, byRoute, byConsumer := map[string][]*file.FPlugin{}, map[string][]*file.FPlugin{}, map[string][]*file.FPlugin{}
	c := &file.Content{}
	for _, p := range raw.Plugins {
		cp := *p
		utils.ZeroOutTimestamps(&cp)
		n := 0
		for _, set := range []bool{cp.Service != nil, cp.Route != nil, cp.Consumer != nil, cp.ConsumerGroup != nil} {
			if set {
				n++
			}
		}
		switch {
		case n == 1 && cp.Service != nil:
			id := *cp.Service.ID
			cp.Service = nil
			bySvc[id] = append(bySvc[id], &file.FPlugin{Plugin: cp})
		case n == 1 && cp.Route != nil:
			id := *cp.Route.ID
			cp.Route = nil
			byRoute[id] = append(byRoute[id], &file.FPlugin{Plugin: cp})
		case n == 1 && cp.Consumer != nil:
			id := *cp.Consumer.ID
			cp.Consumer = nil
			byConsumer[id] = append(byConsumer[id], &file.FPlugin{Plugin: cp})
		case n == 1:
			// Scoped to a consumer group only: decK nests it under
			// consumer_groups, which the rules do not index.
		default:
			// decK names the scopes of a top-level plugin.
			var err error
			if cp.Service != nil {
				var n string
				n, err = refName(cp.Service.ID, svcName, "service")
				cp.Service = &gokong.Service{ID: &n}
			}
			if err == nil && cp.Route != nil {
				var n string
				n, err = refName(cp.Route.ID, routeName, "route")
				cp.Route = &gokong.Route{ID: &n}
			}
			if err == nil && cp.Consumer != nil {
				var n string
				n, err = refName(cp.Consumer.ID, consumerName, "consumer")
				cp.Consumer = &gokong.Consumer{ID: &n}
			}
			if err == nil && cp.ConsumerGroup != nil {
				var n string
				n, err = refName(cp.ConsumerGroup.ID, groupName, "consumer-group")
				cp.ConsumerGroup = &gokong.ConsumerGroup{ID: &n}
			}
			if err != nil {
				return nil, fmt.Errorf("plugin %s [%s]: %w", deref(cp.Name), deref(cp.ID), err)
			}
			c.Plugins = append(c.Plugins, file.FPlugin{Plugin: cp})
		}
	}
	sortPlugins := func(l []*file.FPlugin) {
		sort.SliceStable(l, func(i, j int) bool { return pluginKey(&l[i].Plugin) < pluginKey(&l[j].Plugin) })
	}
	sort.SliceStable(c.Plugins, func(i, j int) bool { return pluginKey(&c.Plugins[i].Plugin) < pluginKey(&c.Plugins[j].Plugin) })

	routesBySvc := map[string][]*file.FRoute{}
	for _, r := range raw.Routes {
		cr := *r
		utils.ZeroOutTimestamps(&cr)
		fr := &file.FRoute{Route: cr}
		fr.Plugins = byRoute[*r.ID]
		sortPlugins(fr.Plugins)
		if cr.Service == nil {
			c.Routes = append(c.Routes, *fr)
			continue
		}
		id := *cr.Service.ID
		fr.Service = nil
		routesBySvc[id] = append(routesBySvc[id], fr)
	}
	sort.SliceStable(c.Routes, func(i, j int) bool {
		return keyOf(c.Routes[i].Name, c.Routes[i].ID) < keyOf(c.Routes[j].Name, c.Routes[j].ID)
	})

	for _, s := range raw.Services {
		cs := *s
		utils.ZeroOutTimestamps(&cs)
		fs := file.FService{Service: cs, Routes: routesBySvc[*s.ID], Plugins: bySvc[*s.ID]}
		sortPlugins(fs.Plugins)
		sort.SliceStable(fs.Routes, func(i, j int) bool {
			return keyOf(fs.Routes[i].Name, fs.Routes[i].ID) < keyOf(fs.Routes[j].Name, fs.Routes[j].ID)
		})
		c.Services = append(c.Services, fs)
	}
	sort.SliceStable(c.Services, func(i, j int) bool {
		return keyOf(c.Services[i].Name, c.Services[i].ID) < keyOf(c.Services[j].Name, c.Services[j].ID)
	})

	for _, cn := range raw.Consumers {
		cc := *cn
		utils.ZeroOutTimestamps(&cc)
		fc := file.FConsumer{Consumer: cc, Plugins: byConsumer[*cn.ID]}
		sortPlugins(fc.Plugins)
		c.Consumers = append(c.Consumers, fc)
	}
	sort.SliceStable(c.Consumers, func(i, j int) bool {
		return keyOf(c.Consumers[i].Username, c.Consumers[i].ID) < keyOf(c.Consumers[j].Username, c.Consumers[j].ID)
	})

	targets := map[string][]*file.FTarget{}
	for _, t := range raw.Targets {
		ct := *t
		if ct.Upstream == nil || ct.Upstream.ID == nil {
			continue
		}
		id := *ct.Upstream.ID
		ct.Upstream = nil
		utils.ZeroOutTimestamps(&ct)
		targets[id] = append(targets[id], &file.FTarget{Target: ct})
	}
	for _, u := range raw.Upstreams {
		cu := *u
		utils.ZeroOutTimestamps(&cu)
		fu := file.FUpstream{Upstream: cu, Targets: targets[*u.ID]}
		sort.SliceStable(fu.Targets, func(i, j int) bool {
			return keyOf(fu.Targets[i].Target.Target, fu.Targets[i].ID) < keyOf(fu.Targets[j].Target.Target, fu.Targets[j].ID)
		})
		c.Upstreams = append(c.Upstreams, fu)
	}
	sort.SliceStable(c.Upstreams, func(i, j int) bool {
		return keyOf(c.Upstreams[i].Name, c.Upstreams[i].ID) < keyOf(c.Upstreams[j].Name, c.Upstreams[j].ID)
	})

	snis := map[string][]gokong.SNI{}
	for _, s := range raw.SNIs {
		cs := *s
		if cs.Certificate == nil || cs.Certificate.ID == nil {
			continue
		}
		id := *cs.Certificate.ID
		cs.Certificate = nil
		utils.ZeroOutTimestamps(&cs)
		snis[id] = append(snis[id], cs)
	}
	for _, ct := range raw.Certificates {
		fc := file.FCertificate{ID: ct.ID, Cert: ct.Cert, Key: ct.Key, Tags: ct.Tags, SNIs: snis[*ct.ID]}
		sort.SliceStable(fc.SNIs, func(i, j int) bool { return deref(fc.SNIs[i].Name) < deref(fc.SNIs[j].Name) })
		c.Certificates = append(c.Certificates, fc)
	}
	sort.SliceStable(c.Certificates, func(i, j int) bool {
		return keyOf(c.Certificates[i].Cert, c.Certificates[i].ID) < keyOf(c.Certificates[j].Cert, c.Certificates[j].ID)
	})
	for _, ct := range raw.CACertificates {
		cc := *ct
		utils.ZeroOutTimestamps(&cc)
		c.CACertificates = append(c.CACertificates, file.FCACertificate{CACertificate: cc})
	}
	sort.SliceStable(c.CACertificates, func(i, j int) bool {
		return keyOf(c.CACertificates[i].Cert, c.CACertificates[i].ID) < keyOf(c.CACertificates[j].Cert, c.CACertificates[j].ID)
	})
	return c, nil
}

// refName is the name decK writes for a top-level plugin's scope (name
// or username, else id).
func refName(id *string, names map[string]string, kind string) (string, error) {
	if id == nil {
		return "", fmt.Errorf("%s without id", kind)
	}
	n, ok := names[*id]
	if !ok {
		return "", fmt.Errorf("unable to get %s %s", kind, *id)
	}
	return n, nil
}

// pluginKey is decK's sort key of a plugin: its name and its scopes' ids
// (names at the top level), else its id.
func pluginKey(p *gokong.Plugin) string {
	if p.Name == nil {
		return deref(p.ID)
	}
	k := *p.Name
	if p.Consumer != nil {
		k += deref(p.Consumer.ID)
	}
	if p.Route != nil {
		k += deref(p.Route.ID)
	}
	if p.Service != nil {
		k += deref(p.Service.ID)
	}
	if p.ConsumerGroup != nil {
		k += deref(p.ConsumerGroup.ID)
	}
	return k
}

// keyOf is decK's sort key of an entity: its name, else its id.
func keyOf(name, id *string) string {
	if name != nil {
		return *name
	}
	return deref(id)
}

func nameOr(name *string, id string) string {
	if name != nil && *name != "" {
		return *name
	}
	return id
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
