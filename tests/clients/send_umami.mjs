// Sends through @umami/node as a site's backend would: node send_umami.mjs HOST WEBSITE_ID USER_AGENT
import { Umami } from '@umami/node';

const [hostUrl, websiteId, userAgent] = process.argv.slice(2);
const umami = new Umami({ hostUrl, websiteId, userAgent });
const answers = [];
answers.push(await umami.track({
  hostname: 'shop.example', url: '/um/pricing', referrer: 'https://news.example/item', title: 'Pricing',
  screen: '1280x720', language: 'en-GB',
}));
answers.push(await umami.track({
  hostname: 'shop.example', url: '/um/pricing', screen: '1280x720', language: 'en-GB',
  name: 'Signup', data: { plan: 'team', seats: 5, nested: { ignored: true } },
}));
answers.push(await umami.identify({ email: 'someone@example.org' }));
const out = [];
for (const answer of answers) out.push({ status: answer.status, body: await answer.text() });
console.log(JSON.stringify(out));
