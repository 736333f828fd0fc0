// The typed client at work: detect faces, build a small gallery, recognize.
//
//   node dist/example.js --url http://127.0.0.1:5001 --key KEY \
//       --enroll Barack=obama.jpg --enroll Joe=biden.jpg --recognize obama2.jpg group.jpg
//
// Prints one JSON summary on stdout (tests/contract/ts-client-test.js checks
// it against a real server); exit 1 with the server's error code on failure.
import { readFileSync } from 'fs';
import { basename } from 'path';
import { FacerecClient, FacerecError, type Image } from './client';

interface Args {
  url: string;
  key: string;
  enroll: Array<{ name: string; file: string }>;
  recognize: string[];
}

function parse(argv: string[]): Args {
  const a: Args = { url: 'http://127.0.0.1:5001', key: process.env['FACEREC_API_KEY'] ?? '', enroll: [], recognize: [] };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--url' && v) a.url = argv[++i]!;
    else if (argv[i] === '--key' && v) a.key = argv[++i]!;
    else if (argv[i] === '--enroll' && v && v.includes('=')) {
      const [name, file] = argv[++i]!.split('=', 2) as [string, string];
      a.enroll.push({ name, file });
    } else if (argv[i] === '--recognize' && v) {
      while (argv[i + 1] && !argv[i + 1]!.startsWith('--')) a.recognize.push(argv[++i]!);
    } else throw new Error(`unexpected argument ${argv[i]}`);
  }
  return a;
}

function image(file: string): Image {
  const type = /\.png$/i.test(file) ? 'image/png' : 'image/jpeg';
  return { data: new Uint8Array(readFileSync(file)), type };
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  const api = new FacerecClient(args.url, args.key);
  const health = await api.healthz();

  // Detection: one request for every photo, base64 JSON (several images).
  const photos = [...args.enroll.map((e) => e.file), ...args.recognize];
  const detected = await api.detect(photos.map(image));
  const detect = detected.images.map((slot, i) => ({
    file: basename(photos[i]!),
    faces: 'faces' in slot ? slot.faces.length : -1,
    landmarks: 'faces' in slot ? slot.faces.every((f) => f.landmarks?.length === 68) : false,
  }));

  // The gallery: a person per --enroll, the photo's largest face each.
  const enrolled: number[] = [];
  for (const e of args.enroll) {
    const person = await api.addPerson(e.name);
    const added = await api.enroll(person.id, image(e.file));
    enrolled.push(added.faces[0]!.id);
  }
  const people = (await api.listPeople({ limit: 100 })).people.map((p) => ({ id: p.id, name: p.name, faces: p.faces }));

  const recognize = [];
  for (const file of args.recognize) {
    const r = await api.recognize(image(file), { k: 3 });
    recognize.push({
      file: basename(file),
      names: r.faces.map((f) => f.name),
      distances: r.faces.map((f) => f.distance ?? null),
    });
  }

  // Verification of the first enrolled photo against the first query.
  let verify = null;
  if (args.enroll.length && args.recognize.length) {
    const v = await api.verify(image(args.enroll[0]!.file), image(args.recognize[0]!));
    verify = { distance: v.distance, same_person: v.same_person };
  }

  const thumb = enrolled.length ? await api.thumbnail(enrolled[0]!) : new Uint8Array();
  // A typed error: a person that does not exist.
  let missing: string | null = null;
  try {
    await api.getPerson(999999999);
  } catch (e) {
    if (!(e instanceof FacerecError)) throw e;
    missing = `${e.status} ${e.code}`;
  }
  const jobs = (await api.jobs({ limit: 5 })).jobs.length;
  const summary = {
    health: health.status,
    detect,
    people,
    recognize,
    verify,
    thumbnail: { bytes: thumb.length, jpeg: thumb[0] === 0xff && thumb[1] === 0xd8 },
    missing_person: missing,
    jobs,
  };
  process.stdout.write(JSON.stringify(summary) + '\n');
}

main().catch((e: unknown) => {
  console.error(`example: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
