import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "../helpers.js";
import { validateArgo } from "./validate-argo.js";

/** A small valid Workflow; each case below breaks one thing in it. */
const VALID = `apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: w-
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        tasks:
          - name: a
            template: step
            arguments:
              parameters:
                - name: who
                  value: a
          - name: b
            template: step
            dependencies: [a]
            arguments:
              parameters:
                - name: who
                  value: "{{tasks.a.outputs.result}}"
    - name: step
      inputs:
        parameters:
          - name: who
      retryStrategy:
        limit: 3
      container:
        image: alpine:3
        command: [echo, "{{inputs.parameters.who}}"]
        resources:
          limits:
            cpu: 1
            memory: 512Mi
`;

function broken(from: string, to: string): string {
  expect(VALID).toContain(from);
  return VALID.replace(from, to);
}

describe("the in-repo Argo validator", () => {
  it("accepts a valid workflow, with the integer and quantity forms the controller decodes", () => {
    expect(validateArgo({ "w.yaml": VALID })).toEqual([]);
  });

  it.each([
    {
      name: "an unknown field (a typo that argo lint's strict decoding rejects)",
      yaml: broken("          limits:", "          limt:"),
      problem: 'w.yaml: schema: /spec/templates/1/container/resources: unknown field "limt"',
    },
    {
      name: "a dag task calling a template that does not exist",
      yaml: broken(
        "          - name: b\n            template: step",
        "          - name: b\n            template: stpe",
      ),
      problem: 'w.yaml: template "main" task "b": template "stpe" does not exist',
    },
    {
      name: "a dependency cycle",
      yaml: broken(
        "          - name: a\n            template: step\n",
        "          - name: a\n            template: step\n            dependencies: [b]\n",
      ),
      problem: 'w.yaml: template "main": dependency cycle a → b → a',
    },
    {
      name: "a dependency on an unknown task",
      yaml: broken("dependencies: [a]", "dependencies: [x]"),
      problem: 'w.yaml: template "main" task "b": depends on unknown task "x"',
    },
    {
      name: "an entrypoint that is no template",
      yaml: broken("entrypoint: main", "entrypoint: mian"),
      problem: 'w.yaml: spec.entrypoint "mian" is not a template',
    },
    {
      name: "an undeclared input parameter",
      yaml: broken('"{{inputs.parameters.who}}"', '"{{inputs.parameters.whom}}"'),
      problem: 'w.yaml: template "step": {{inputs.parameters.whom}} but no input parameter "whom"',
    },
    {
      name: "a required input not supplied",
      yaml: broken(
        "            dependencies: [a]\n            arguments:\n              parameters:\n                - name: who\n",
        "            dependencies: [a]\n            arguments:\n              parameters:\n                - name: whom\n",
      ),
      problem:
        'w.yaml: template "main" task "b": input parameter "who" of template "step" not supplied',
    },
    {
      name: "a task output read from a task that is not upstream",
      yaml: broken("            dependencies: [a]\n", ""),
      problem:
        'w.yaml: template "main" task "b": {{tasks.a.outputs.result}} but "a" is not upstream',
    },
    {
      name: "two templates of one name",
      yaml: broken("    - name: step\n", "    - name: main\n"),
      problem: 'w.yaml: template "main" defined twice',
    },
    {
      name: "a quantity that is no quantity",
      yaml: broken("memory: 512Mi", "memory: lots"),
      problem:
        "w.yaml: schema: /spec/templates/1/container/resources/limits/memory: must match pattern",
    },
  ])("rejects $name", ({ yaml, problem }) => {
    const problems = validateArgo({ "w.yaml": yaml });
    expect(
      problems.some((p) => p.startsWith(problem)),
      problems.join("\n"),
    ).toBe(true);
  });

  it("rejects a rendered golden manifest with a field misspelled", () => {
    const text = readFileSync(
      path.join(REPO, "test", "render", "golden", "daily.argo.yaml"),
      "utf8",
    );
    expect(validateArgo({ "daily.argo.yaml": text })).toEqual([]);
    const typo = text.replace("retryStrategy:", "retryStrategey:");
    expect(validateArgo({ "daily.argo.yaml": typo })).toContain(
      'daily.argo.yaml: schema: /spec/templates/3: unknown field "retryStrategey"',
    );
  });

  it("labels each document of a multi-document file and rejects other kinds", () => {
    const problems = validateArgo({ "two.yaml": `${VALID}---\napiVersion: v1\nkind: ConfigMap\n` });
    expect(problems).toEqual(['two.yaml#1: apiVersion must be argoproj.io/v1alpha1, got "v1"']);
  });
});
