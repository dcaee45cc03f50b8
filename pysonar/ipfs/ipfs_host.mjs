// Hosts several js-ipfs nodes in one Node.js process, each with its own repo, identity,
// HTTP API and swarm listener, all offline (no bootstrap peers, discovery, DHT or preload).
//
//   node ipfs_host.mjs <config.json>
//   node ipfs_host.mjs --env      one node configured by environment variables (a container):
//                                 IPFS_REPO, IPFS_API and IPFS_SWARM (multiaddrs to listen on),
//                                 IPFS_PEERS (comma-separated swarm multiaddrs), IPFS_NODE_MODULES,
//                                 IPFS_PRIVATE_KEY (optional: the identity, base64 protobuf)
//
// config.json: {
//   "node_modules": "/abs/path/to/node_modules",      where ipfs-core and ipfs-http-server are
//   "redial_seconds": 2,                              how often lost peers are dialled again
//   "nodes": [{"name": "ipfs-0", "repo": "/abs/repo", "api": "/ip4/127.0.0.1/tcp/0",
//              "swarm": "/ip4/127.0.0.1/tcp/0", "peers": ["ipfs-1", "/ip4/.../p2p/12D3..."],
//              "private_key": "CAESQ..." (optional)}]
// }
// A peer is a sibling node's name or a swarm multiaddr with its /p2p/ id; the host keeps a
// connection to each. Port 0 lets the kernel pick a free port.
//
// Prints one JSON object per line on stdout: {"event": "node-ready", "name", "peer_id",
// "api", "swarm"} for each node, then {"event": "ready"}; {"event": "stopped"} after SIGTERM
// or SIGINT has stopped every node. Loading js-ipfs's modules once for all nodes is the
// point: a `jsipfs daemon` per node pays about 2 s of module loading each, twice with init.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

function configFromEnvironment (env) {
  return {
    node_modules: env.IPFS_NODE_MODULES ?? '/app/node_modules',
    redial_seconds: Number(env.IPFS_REDIAL_SECONDS ?? 2),
    nodes: [{
      name: env.IPFS_NAME ?? 'ipfs',
      repo: env.IPFS_REPO ?? '/var/lib/ipfs',
      api: env.IPFS_API ?? '/ip4/0.0.0.0/tcp/5001',
      swarm: env.IPFS_SWARM ?? '/ip4/0.0.0.0/tcp/4001',
      peers: (env.IPFS_PEERS ?? '').split(',').map(peer => peer.trim()).filter(Boolean),
      private_key: env.IPFS_PRIVATE_KEY || undefined
    }]
  }
}

const config = process.argv[2] === '--env'
  ? configFromEnvironment(process.env)
  : JSON.parse(readFileSync(process.argv[2], 'utf8'))

/** Imports an ESM-only package from the configured node_modules by its "import" export. */
async function importPackage (name) {
  const directory = join(config.node_modules, name)
  const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8'))
  const entry = manifest.exports['.'].import
  return import(pathToFileURL(join(directory, entry)).href)
}

function emit (event) {
  process.stdout.write(JSON.stringify(event) + '\n')
}

function offlineConfig (node) {
  return {
    Addresses: {
      API: node.api,
      Swarm: [node.swarm],
      Gateway: '',
      RPC: '',
      Announce: [],
      NoAnnounce: [],
      Delegates: []
    },
    Bootstrap: [],
    Discovery: { MDNS: { Enabled: false }, webRTCStar: { Enabled: false } },
    Swarm: { DisableNatPortMap: true },
    Routing: { Type: 'none' }
  }
}

const { create } = await importPackage('ipfs-core')
const { HttpApi } = await importPackage('ipfs-http-server')
const { multiaddr } = await importPackage('@multiformats/multiaddr')

const running = []
let stopping = false

async function stopAll () {
  if (stopping) return
  stopping = true
  await Promise.allSettled(running.map(async ({ ipfs, api }) => {
    await api.stop()
    await ipfs.stop()
  }))
  emit({ event: 'stopped' })
  process.exit(0)
}

process.on('SIGTERM', stopAll)
process.on('SIGINT', stopAll)

async function startNode (node) {
  const ipfs = await create({
    repo: node.repo,
    // A given key (base64 libp2p protobuf, as go-ipfs' Identity.PrivKey) fixes the peer id,
    // so that other nodes can list this one as a peer; it is used only to create the repo.
    init: node.private_key ? { privateKey: node.private_key } : { algorithm: 'Ed25519' },
    preload: { enabled: false },
    config: offlineConfig(node),
    silent: true
  })
  const api = new HttpApi(ipfs)
  await api.start()
  running.push({ node, ipfs, api })
  const id = await ipfs.id()
  const swarm = id.addresses
    .map(String)
    .find(address => address.startsWith('/ip4/') && address.includes('/tcp/') && !address.includes('/ws'))
  return { name: node.name, ipfs, peerId: id.id.toString(), api: String(api._apiServers[0].info.ma), swarm }
}

try {
  const started = await Promise.all(config.nodes.map(startNode))
  const swarmOf = new Map(started.map(node => [node.name, node.swarm]))
  const resolvePeer = peer => swarmOf.get(peer) ?? peer

  async function dialMissing ({ ipfs, peers }) {
    if (stopping || peers.length === 0) return
    const connected = new Set((await ipfs.swarm.peers()).map(peer => peer.peer.toString()))
    await Promise.allSettled(peers
      .filter(address => !connected.has(address.split('/p2p/')[1]))
      .map(address => ipfs.swarm.connect(multiaddr(address), { timeout: 5000 })))
  }

  const links = started.map((node, index) => ({
    ipfs: node.ipfs,
    peers: (config.nodes[index].peers ?? []).map(resolvePeer)
  }))
  await Promise.all(links.map(dialMissing))
  for (const node of started) {
    emit({ event: 'node-ready', name: node.name, peer_id: node.peerId, api: node.api, swarm: node.swarm })
  }
  emit({ event: 'ready' })
  const redial = setInterval(
    () => links.forEach(link => dialMissing(link).catch(() => {})),
    (config.redial_seconds ?? 2) * 1000
  )
  redial.unref()
} catch (error) {
  emit({ event: 'failed', error: String(error && error.stack ? error.stack : error) })
  await Promise.allSettled(running.map(({ ipfs, api }) => api.stop().then(() => ipfs.stop())))
  process.exit(1)
}
