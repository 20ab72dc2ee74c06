// A plain Gun.js peer (npm gun, WebSocket only), driven by JSON lines (see lineproto.js).
//   node gunjs_peer.js <peer-url> [<peer-url> ...]
process.env.MULTICAST = 'false';
const Gun = require('gun');
const { serve } = require('./lineproto');

const gun = Gun({ peers: process.argv.slice(2), multicast: false, radisk: false, localStorage: false, file: false, axe: false });
serve(gun);
