// Drives a Transmission RPC server with @ctrl/transmission the way a web
// front end does, step by step, and prints what each step answered as one
// JSON object. Arguments: one JSON object {url, downloadDir, magnet,
// localHash, renamePath, renameName}. Any failure, or an answer other than
// "success", exits 1 naming the step.
import { Transmission } from '@ctrl/transmission';

const cfg = JSON.parse(process.argv[2]);
const client = new Transmission({ baseUrl: cfg.url, timeout: 10000 });
const out = {};
let step = '';
// ok returns a raw answer's arguments, or throws with its result.
const ok = (res) => {
  if (res.result !== 'success') throw new Error(`result: ${res.result}`);
  return res.arguments;
};
try {
  step = 'getSession';
  out.rpcVersion = ok(await client.getSession())['rpc-version'];

  step = 'getAllData';
  const all = await client.getAllData();
  out.listed = all.torrents.map((t) => ({ id: t.id, name: t.name, state: t.state }));

  step = 'addMagnet';
  // The library's default download-dir is /downloads: a front end sends
  // the folder it is configured with.
  const added = ok(await client.addMagnet(cfg.magnet, { paused: true, 'download-dir': cfg.downloadDir }));
  const addedId = added['torrent-added'].id;
  out.addedHash = added['torrent-added'].hashString;

  step = 'listTorrents (all fields)';
  const full = ok(await client.listTorrents());
  out.fullCount = full.torrents.length;
  out.fieldCount = Object.keys(full.torrents[0]).length;

  step = 'setTorrent';
  ok(await client.setTorrent(addedId, { uploadLimit: 100, uploadLimited: true, labels: ['tv'] }));
  const set = ok(await client.listTorrents(addedId, ['uploadLimit', 'uploadLimited', 'labels']));
  const s = set.torrents[0];
  out.set = { uploadLimit: s.uploadLimit, uploadLimited: s.uploadLimited, labels: s.labels };

  step = 'renamePath';
  const local = all.torrents.find((t) => t.id === cfg.localHash);
  out.renamed = ok(await client.renamePath(local.id, { path: cfg.renamePath, name: cfg.renameName }));

  step = 'pauseTorrent';
  ok(await client.pauseTorrent(local.id));

  step = 'removeTorrent';
  ok(await client.removeTorrent(addedId, true));
  out.removed = addedId;
} catch (err) {
  console.log(JSON.stringify({ ...out, failedStep: step, error: String(err && err.message ? err.message : err) }));
  process.exit(1);
}
console.log(JSON.stringify(out));
