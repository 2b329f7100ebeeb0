export declare const START: string;
export declare const END: string;
export declare function updateScreenshots(runLog?: string): { entries: number; taken: number; readmeChanged: boolean };
