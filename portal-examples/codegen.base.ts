// One configuration for every package's codegen: typed operations from the API's schema, and a
// trusted-document manifest ({sha256-hex: document}) that `forexcrm documents add` accepts.
import type { CodegenConfig } from "@graphql-codegen/cli";

export function portalCodegen(documents: string[]): CodegenConfig {
  return {
    schema: "../../schema.graphql",
    documents: [...documents, "!src/gql/**/*"],
    ignoreNoDocuments: true,
    generates: {
      "./src/gql/": {
        preset: "client",
        presetConfig: {
          fragmentMasking: false,
          persistedDocuments: { hashAlgorithm: "sha256", mode: "embedHashInDocument" },
        },
        config: {
          useTypeImports: true,
          enumsAsTypes: true,
          strictScalars: true,
          scalars: {
            Money: "string",
            Decimal: "string",
            DateTime: "string",
            Date: "string",
            JSON: "unknown",
            Upload: "File",
          },
        },
      },
    },
  };
}
