// LangChain JS (@langchain/ollama) against autonom's Ollama API: a plain answer, a stream,
// structured output from a zod schema, and embeddings. Prints one JSON line with what came
// back; the test suite (tests/integration/test_langchain_js.py) checks it.
//   AUTONOM_URL=http://127.0.0.1:8080 AUTONOM_KEY=sk-... AUTONOM_MODEL=smollm2-135m \
//   node langchain_ollama.mjs
import { ChatOllama, OllamaEmbeddings } from "@langchain/ollama";
import { z } from "zod";

const baseUrl = process.env.AUTONOM_URL;
const headers = { Authorization: `Bearer ${process.env.AUTONOM_KEY}` };
const model = new ChatOllama({
  baseUrl, headers, model: process.env.AUTONOM_MODEL, temperature: 0.1, numPredict: 60,
  keepAlive: "2h",
});

const plain = await model.invoke("Was ist ein Wartungsvertrag? Antworte in einem Satz.");
const pieces = [];
for await (const chunk of await model.stream("Nenne drei Farben.")) pieces.push(chunk.content);

const Pumpe = z.object({
  name: z.string().max(20).describe("Name der Pumpe"),
  leistung_kw: z.number().describe("Leistung in kW"),
});
const structured = await model.withStructuredOutput(Pumpe, { name: "Pumpe" })
  .invoke("Die Pumpe KP-55 hat 5,5 kW. Gib Name und Leistung an.");

const embeddings = new OllamaEmbeddings({ baseUrl, headers, model: "multilingual-e5-small" });
const vectors = await embeddings.embedDocuments(["Pumpe", "Größe: 5,5 kW"]);

console.log(JSON.stringify({
  plain: plain.content,
  pieces: pieces.length,
  streamed: pieces.join(""),
  structured,
  dimensions: vectors.map((v) => v.length),
}));
