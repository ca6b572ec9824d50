package main

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// sdnConfig is the JSON schema of the sdnbridge/sdnoverlay network configuration: the fields of
// NetworkConfig, IpamConfig, OptionalFlags and RuntimeConfig in cni/cni.go of
// github.com/microsoft/windows-container-networking (read at commit 032bbff4c7f16bc8fcdc27bda6561dc035de7d4c),
// which the plugin fills with a lenient json.Unmarshal (ParseNetworkConfig). Written here because that
// module is not served by the proxy. The CNI-spec keys the runtime consumes (capabilities, args,
// prevResult) are accepted too. Go's encoding/json matches keys case-insensitively, as the plugin does.
type sdnConfig struct {
	CniVersion   string          `json:"cniVersion"`
	Name         string          `json:"name"`
	Type         string          `json:"type"`
	Capabilities map[string]bool `json:"capabilities"`
	Args         json.RawMessage `json:"args"`
	PrevResult   json.RawMessage `json:"prevResult"`
	Ipam         struct {
		Type          string `json:"type"`
		Environment   string `json:"environment"`
		AddressSpace  string `json:"addressSpace"`
		Subnet        string `json:"subnet"`
		IPAddress     string `json:"ipAddress"`
		QueryInterval string `json:"queryInterval"`
		Routes        []struct {
			Dst string `json:"dst"`
			GW  string `json:"gw"`
		} `json:"routes"`
	} `json:"ipam"`
	DNS struct { // github.com/containernetworking/cni/pkg/types DNS
		Nameservers []string `json:"nameservers"`
		Domain      string   `json:"domain"`
		Search      []string `json:"search"`
		Options     []string `json:"options"`
	} `json:"dns"`
	OptionalFlags struct {
		LocalRoutedPortMapping bool `json:"localRoutedPortMapping"`
		AllowACLPortMapping    bool `json:"allowAclPortMapping"`
	} `json:"optionalFlags"`
	RuntimeConfig struct {
		PortMappings []struct {
			HostPort      int    `json:"hostPort"`
			ContainerPort int    `json:"containerPort"`
			Protocol      string `json:"protocol"`
			HostIP        string `json:"hostIP"`
		} `json:"portMappings"`
		DNS struct {
			Servers  []string `json:"servers"`
			Searches []string `json:"searches"`
			Options  []string `json:"options"`
		} `json:"dns"`
	} `json:"runtimeConfig"`
	AdditionalArgs []struct {
		Name  string          `json:"name"`
		Value json.RawMessage `json:"value"`
	}
}

// endpointPolicy is hcn.EndpointPolicy (hcsshim hcn/hcnpolicy.go, `//go:build windows`): what the plugin
// hands to HNS for an AdditionalArgs entry named "EndpointPolicy".
type endpointPolicy struct {
	Type     string          `json:"Type"`
	Settings json.RawMessage `json:"Settings"`
}

// policySettings maps the EndpointPolicyType values hybridctl writes to a fresh value of the settings
// struct of hcsshim v0.13.0 hcn/hcnpolicy.go (OutboundNatPolicySetting, SDNRoutePolicySetting,
// ProviderAddressEndpointPolicySetting).
var policySettings = map[string]func() interface{}{
	"OutBoundNAT": func() interface{} {
		return &struct {
			VirtualIP        string
			Exceptions       []string
			Destinations     []string
			Flags            uint32
			MaxPortPoolUsage uint16
		}{}
	},
	"SDNRoute": func() interface{} {
		return &struct {
			DestinationPrefix string
			NextHop           string
			NeedEncap         bool
		}{}
	},
	"ProviderAddress": func() interface{} {
		return &struct{ ProviderAddress string }{}
	},
}

func strictJSON(data []byte, out interface{}) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	return d.Decode(out)
}

// windowsPlugin decodes an sdnbridge/sdnoverlay config (or the delegate of a flannel config whose
// delegate is one of them) strictly against the schema above.
func windowsPlugin(pluginType string, data []byte) error {
	if pluginType == "flannel" {
		var outer struct {
			Delegate json.RawMessage `json:"delegate"`
		}
		if err := json.Unmarshal(data, &outer); err != nil || len(outer.Delegate) == 0 {
			return err
		}
		var inner struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(outer.Delegate, &inner); err != nil {
			return fmt.Errorf("flannel delegate: %w", err)
		}
		if inner.Type == "sdnbridge" || inner.Type == "sdnoverlay" {
			return windowsPlugin(inner.Type, outer.Delegate)
		}
		return nil
	}
	if pluginType != "sdnbridge" && pluginType != "sdnoverlay" {
		return nil
	}
	var cfg sdnConfig
	if err := strictJSON(data, &cfg); err != nil {
		return fmt.Errorf("%s: %w", pluginType, err)
	}
	for i, arg := range cfg.AdditionalArgs {
		if arg.Name != "EndpointPolicy" {
			continue
		}
		var policy endpointPolicy
		if err := strictJSON(arg.Value, &policy); err != nil {
			return fmt.Errorf("%s: AdditionalArgs[%d]: %w", pluginType, i, err)
		}
		settings, ok := policySettings[policy.Type]
		if !ok {
			return fmt.Errorf("%s: AdditionalArgs[%d]: EndpointPolicy type %q is not one this check knows", pluginType, i, policy.Type)
		}
		if err := strictJSON(policy.Settings, settings()); err != nil {
			return fmt.Errorf("%s: AdditionalArgs[%d] %s settings: %w", pluginType, i, policy.Type, err)
		}
	}
	return nil
}
