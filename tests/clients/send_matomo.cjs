// Sends through matomo-tracker as a site's backend would: node send_matomo.cjs TRACKER_URL SITE_ID TOKEN USER_AGENT
const MatomoTracker = require('matomo-tracker');

const [trackerUrl, siteId, token, ua] = process.argv.slice(2);
const matomo = new MatomoTracker(Number(siteId), trackerUrl);
const errors = [];
matomo.on('error', (err) => errors.push(String(err)));
const visit = { ua, cip: '198.51.100.4', token_auth: token, res: '412x915', lang: 'nl-NL,nl;q=0.9' };
matomo.track({ ...visit, url: 'https://example.com/ma/home', action_name: 'Home' });
matomo.track({ ...visit, url: 'https://example.com/ma/home', e_c: 'Video', e_a: 'Play', e_n: 'intro', e_v: 12 });
matomo.trackBulk([
  { ...visit, url: 'https://example.com/ma/bulk' },
  { ...visit, url: 'https://example.com/ma/bulk', e_c: 'Cart', e_a: 'Add', e_n: 'sku-1' },
], (answer) => {
  setTimeout(() => { console.log(JSON.stringify({ bulk: answer, errors })); process.exit(0); }, 300);
});
