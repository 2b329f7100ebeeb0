import { portalCodegen } from "../codegen.base";
export default portalCodegen(["src/**/*.{ts,tsx}"]);
