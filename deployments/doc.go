// Package deployments holds fastpath's Kubernetes manifests: the node DaemonSet
// that installs the plugin (fastpath/), NetworkAttachmentDefinitions for a
// kernel VF, a vfio-pci VF and a vhost-user port (networks/), the SR-IOV
// network device plugin's pools (sriovdp/) and example pods (examples/).
//
// Its test decodes every YAML document here strictly into the Kubernetes API
// types (and every NetworkAttachmentDefinition's config into fastpath's own
// config, through the plugin's validation), so that a typo fails CI rather
// than a cluster.
package deployments
